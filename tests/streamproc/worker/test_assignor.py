"""The worker's partition assignor gives a restarted member (new member id, same URL) its partitions back."""

from __future__ import annotations

import faust
from aiokafka.cluster import ClusterMetadata
from aiokafka.coordinator.protocol import ConsumerProtocolMemberMetadata
from aiokafka.protocol.metadata import MetadataResponse_v0
from faust.assignor.client_assignment import ClientAssignment, ClientMetadata

from streamproc.worker.assignor import StableOrderAssignor

TOPIC = "news.raw"


def _cluster(partitions: int) -> ClusterMetadata:
    cluster = ClusterMetadata()
    leaders = [(0, partition, 0, [0], [0]) for partition in range(partitions)]
    cluster.update_metadata(MetadataResponse_v0([(0, "127.0.0.1", 9092)], [(0, TOPIC, leaders)]))
    return cluster


def _member(url: str) -> ConsumerProtocolMemberMetadata:
    client = ClientMetadata(
        assignment=ClientAssignment(actives={}, standbys={}),
        url=url,
        changelog_distribution={},
        external_topic_distribution={},
        topic_groups={},
    )
    return ConsumerProtocolMemberMetadata(4, [TOPIC], client.dumps())


def _partitions(assignor: StableOrderAssignor, members: dict[str, str]) -> dict[str, list[int]]:
    """Member URL -> the partitions the assignor gives it, members listed in the given (broker's) order."""
    result = assignor.assign(_cluster(4), {member: _member(url) for member, url in members.items()})
    return {members[member]: sorted(p for _, ps in got.assignment for p in ps) for member, got in result.items()}


def test_restarted_member_with_a_new_id_gets_the_same_partitions(tmp_path) -> None:
    app = faust.App(
        "assignor-test", broker="kafka://127.0.0.1:9", datadir=tmp_path, PartitionAssignor=StableOrderAssignor
    )
    assignor = app.assignor
    assert isinstance(assignor, StableOrderAssignor)
    a, b = "http://127.0.0.1:7001", "http://127.0.0.1:7002"
    before = _partitions(assignor, {"faust-1": a, "faust-2": b})
    # worker a restarted: the broker lists it last, under a newer member id
    after = _partitions(assignor, {"faust-2": b, "faust-3": a})
    assert before == after
    assert sorted(before[a] + before[b]) == [0, 1, 2, 3] and before[a] and before[b]
