# Two-stage baseline of the held-out study: the CE model of
# deeplabv3plus_r18_camvid_cpu_holdout_ce.py (its seed; set load_from) fine-
# tuned 300 more iterations with cross-entropy only.
_base_ = ['../_base_/deeplabv3plus_r18_camvid_cpu_holdout_ft.py']
