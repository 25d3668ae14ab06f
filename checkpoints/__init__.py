"""Bundled edge-net checkpoints (``edgenet_c{num_classes}_*.pth``)."""
