# DeepLabV3+ R18 on CamVid, fine-tuned from the CE model, cross-entropy + SEMEDA with the
# package's defaults (300 iterations): lambda (4, 2, 0), loss in the 3-pixel
# band around ground-truth edges, and the edge net pretrained on CamVid train
# masks with soft inputs in half of its batches (bundled). The paper's form:
# deeplabv3plus_r18_camvid_cpu_ft_semeda_paper.py.
_base_ = ['../_base_/deeplabv3plus_r18_camvid_cpu_ft.py']
model = dict(
    decode_head=dict(loss_decode=[
        dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
        dict(type='SemedaLoss', checkpoint='edgenet_c11_camvid_soft'),
    ]))
