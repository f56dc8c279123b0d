"""The model lifecycle: the tasks of the lifecycle state machine (training check,
manifest, training, evaluation gate, blue/green deployment, replay, cleanup)."""
