"""Evaluate a checkpoint (MMSeg's tools/test.py flags).

python tools/test.py CONFIG CHECKPOINT [--work-dir DIR]
"""
from mmseg_semeda.apis import test_main

if __name__ == '__main__':
    test_main()
