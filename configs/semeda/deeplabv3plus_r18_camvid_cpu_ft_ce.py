# Baseline: DeepLabV3+ R18 on CamVid fine-tuned for 300 iterations from the CE model, cross-entropy only.
_base_ = ['../_base_/deeplabv3plus_r18_camvid_cpu_ft.py']
