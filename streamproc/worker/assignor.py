"""Partition assignment that does not depend on member ids, so a restarted static member gets its partitions back.

Faust's assignor hands partitions out round robin in the order the broker lists the members, and that order
follows the member ids the broker generated. A worker restarted with the same `group.instance.id` comes back
under a new member id. When its metadata is unchanged the broker keeps the generation (no rebalance: the other
members keep what they hold) and, if the restarted worker was the group leader, lets it compute the assignment
again. With the new id in another place of the member list it took the partitions of a live member, whom nobody
told, while its own old partitions stayed with nobody (seen on the local stack's broker: two of four partitions
never processed again). Ordering the members by their advertised URL (host and web port, which a restarted
worker keeps) first makes the computation give every member what it had, whatever ids the broker hands out.
"""

from __future__ import annotations

from aiokafka.cluster import ClusterMetadata
from faust.assignor.partition_assignor import MemberAssignmentMapping, MemberMetadataMapping, PartitionAssignor


class StableOrderAssignor(PartitionAssignor):
    """Faust's assignor, fed the members in an order that survives a member's restart."""

    def assign(self, cluster: ClusterMetadata, member_metadata: MemberMetadataMapping) -> MemberAssignmentMapping:
        """Assign as Faust does, with the members ordered by (URL, member id)."""
        urls = {member: self._get_client_metadata(metadata).url for member, metadata in member_metadata.items()}
        ordered = {member: member_metadata[member] for member in sorted(member_metadata, key=lambda m: (urls[m], m))}
        return super().assign(cluster, ordered)
