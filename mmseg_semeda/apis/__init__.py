from .train import test_main, train_main

__all__ = ['train_main', 'test_main']
