# CamVid with a held-out part of train, to confirm on images that chose
# nothing: training reads camvid_splits/train_fit.txt (306 images), val stays
# CamVid val (101 images, used to decide), and the test loader reads
# camvid_splits/train_holdout.txt (61 images: the first sixth of each train
# sequence in frame order, 0001TP 10, 0006R0 17, 0016E5 34; far in time from
# val's 0016E5 frames 07959-08159). Score it with tools/test.py.
_base_ = ['./camvid.py']
splits = '{{ fileDirname }}/camvid_splits'
train_dataloader = dict(dataset=dict(ann_file=splits + '/train_fit.txt'))
test_dataloader = dict(
    dataset=dict(
        ann_file=splits + '/train_holdout.txt',
        data_prefix=dict(img_path='images/train',
                         seg_map_path='annotations/train')))
