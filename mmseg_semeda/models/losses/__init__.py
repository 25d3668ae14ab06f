from .semeda_loss import SemedaLoss, semeda_loss
from .sobel_loss import SobelEdgeLoss, sobel_edge_loss

__all__ = ['SemedaLoss', 'semeda_loss', 'SobelEdgeLoss', 'sobel_edge_loss']
