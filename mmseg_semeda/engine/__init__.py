from .hooks import SemedaVisualizationHook

__all__ = ['SemedaVisualizationHook']
