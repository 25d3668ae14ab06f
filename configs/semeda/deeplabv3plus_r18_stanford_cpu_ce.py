# Baseline: DeepLabV3+ R18 from scratch on Stanford Background, cross-entropy
# only (CPU schedule).
_base_ = ['../_base_/deeplabv3plus_r18_stanford_cpu.py']
