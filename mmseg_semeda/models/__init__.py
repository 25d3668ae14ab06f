from .edge_net import SemedaEdgeNet
from .losses import SemedaLoss, SobelEdgeLoss, semeda_loss, sobel_edge_loss

__all__ = [
    'SemedaEdgeNet', 'SemedaLoss', 'SobelEdgeLoss', 'semeda_loss',
    'sobel_edge_loss'
]
