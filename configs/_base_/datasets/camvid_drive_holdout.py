# CamVid with one whole drive held back: training reads the 305 train images
# of drives 0006R0 and 0016E5 (camvid_splits/train_without_0001TP.txt), val
# stays CamVid val (101 images of 0016E5, used to decide), and the test loader
# reads the 62 images of drive 0001TP (camvid_splits/drive_0001TP.txt), a
# drive no training or validation image comes from: a user's new data looks
# like that more than frames seconds away from training frames do. Fixed
# before any result on it; it chooses nothing.
_base_ = ['./camvid.py']
splits = '{{ fileDirname }}/camvid_splits'
train_dataloader = dict(
    dataset=dict(ann_file=splits + '/train_without_0001TP.txt'))
test_dataloader = dict(
    dataset=dict(
        ann_file=splits + '/drive_0001TP.txt',
        data_prefix=dict(img_path='images/train',
                         seg_map_path='annotations/train')))
