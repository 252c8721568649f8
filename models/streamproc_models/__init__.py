"""Model building, training, active learning and evaluation for the models of streamproc's task file."""
