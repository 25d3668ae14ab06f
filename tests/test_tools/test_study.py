"""tools/study_losses.py: variants x seeds trained for real (tiny), skipped
when done, summarised with paired differences."""
import json
import os
import os.path as osp

import pytest
from study_losses import main, markdown, parse_variant, read_metrics, summarize
from train_helpers import tiny_config


def _fake_run(work_dir, name, seed, miou, band):
    folder = osp.join(work_dir, f'{name}_s{seed}', '20260101_000000',
                      'vis_data')
    os.makedirs(folder)
    with open(osp.join(folder, 'scalars.json'), 'w') as f:
        f.write(json.dumps(dict(loss=1.0, step=1)) + '\n')
        f.write(json.dumps(dict(mIoU=miou, mIoU_band_w3=band, step=4)) + '\n')


def test_summary_pairs_seeds_with_the_baseline(tmp_path):
    wd = str(tmp_path)
    for seed, (ce, se) in enumerate([(50.0, 51.0), (52.0, 55.0)]):
        _fake_run(wd, 'ce', seed, ce, 20.0 + seed)
        _fake_run(wd, 'semeda', seed, se, 24.0 + seed)
    _fake_run(wd, 'other', 0, 40.0, 10.0)  # seed 1 missing
    variants = [parse_variant(['ce', 'a.py']),
                parse_variant(['semeda', 'b.py', 'x.y=1']),
                parse_variant(['other', 'c.py'])]
    s = summarize(variants, [0, 1], wd)
    se = s['variants']['semeda']
    assert se['options'] == ['x.y=1']
    assert se['stats']['mIoU']['mean'] == pytest.approx(53.0)
    assert se['stats']['mIoU']['sd'] == pytest.approx(8 ** 0.5)  # 51, 55
    # paired differences 1 and 3: mean 2, sd sqrt(2)
    assert se['delta']['mIoU']['mean'] == pytest.approx(2.0)
    assert se['delta']['mIoU']['sd'] == pytest.approx(2 ** 0.5)
    assert se['delta']['mIoU_band_w3']['mean'] == pytest.approx(4.0)
    assert se['delta']['mIoU_band_w3']['sd'] == pytest.approx(0.0)
    other = s['variants']['other']
    assert other['seeds'] == [0] and other['delta']['mIoU']['n'] == 1
    assert other['delta']['mIoU']['sd'] is None
    assert s['variants']['ce']['delta'] == {}
    table = markdown(s, keys=('mIoU', 'mIoU_band_w3'))
    assert '| semeda | 0,1 | 53.00 ± 2.83 | 24.50 ± 0.71 |' in table
    assert '| semeda | 0,1 | +2.00 ± 1.41 | +4.00 ± 0.00 |' in table
    assert '| other | 0 | -10.00 | -10.00 |' in table


def test_read_metrics_takes_the_last_validation(tmp_path):
    assert read_metrics(str(tmp_path / 'nothing')) is None
    _fake_run(str(tmp_path), 'ce', 0, 50.0, 20.0)
    assert read_metrics(str(tmp_path / 'ce_s0'))['mIoU'] == 50.0
    assert not any(k.startswith('switch_iter') for k in read_metrics(
        str(tmp_path / 'ce_s0')))


def test_read_metrics_keeps_the_switch_on_iteration(tmp_path):
    _fake_run(str(tmp_path), 'semeda', 0, 50.0, 20.0)
    log = tmp_path / 'semeda_s0' / '20260101_000000' / '20260101_000000.log'
    log.write_text(
        '... - INFO - Iter(train) [ 150/1000]  loss: 1.0\n'
        '... - INFO - loss_semeda switched on at iteration 165: running '
        'pixel accuracy 0.801 >= start_acc 0.8\n'
        '... - INFO - loss_semeda_1 switched on at iteration 200: 20% of '
        'max_iters=1000 reached (running pixel accuracy 0.610)\n')
    metrics = read_metrics(str(tmp_path / 'semeda_s0'))
    assert metrics['switch_iter.loss_semeda'] == 165
    assert metrics['switch_iter.loss_semeda_1'] == 200


@pytest.mark.parametrize('spec', [['ce'], ['ce=1', 'a.py'],
                                  ['ce', 'a.py', 'novalue']])
def test_bad_variant_specs(spec):
    with pytest.raises(ValueError, match='NAME CONFIG'):
        parse_variant(spec)


def test_missing_config_and_duplicate_names(tmp_path):
    with pytest.raises(FileNotFoundError, match="config of 'ce'"):
        main(['--variant', 'ce', str(tmp_path / 'no.py'), '--collect-only'])
    cfg = tmp_path / 'a.py'
    cfg.write_text('')
    with pytest.raises(ValueError, match='unique'):
        main(['--variant', 'ce', str(cfg), '--variant', 'ce', str(cfg)])


def test_trains_variants_over_seeds_and_skips_finished_runs(
        tmp_path, shapes_root, capsys):
    ce = tiny_config(tmp_path, shapes_root, loss='ce', iters=2)
    se = tiny_config(tmp_path, shapes_root, loss='semeda', iters=2)
    wd = str(tmp_path / 'study')
    argv = ['--variant', 'ce', ce, '--variant', 'semeda_w2', se,
            'model.decode_head.loss_decode.1.loss_weight=2.0',
            '--seeds', '0', '1', '--jobs', '2', '--threads', '1',
            '--cfg-options', 'default_hooks.logger.interval=7',
            '--work-dir', wd, '--json', str(tmp_path / 'study.json'),
            '--plot', str(tmp_path / 'trimap.png')]
    summary = main(argv)
    for name in ('ce', 'semeda_w2'):
        assert summary['variants'][name]['seeds'] == [0, 1]
    assert summary['variants']['semeda_w2']['delta']['mIoU']['n'] == 2
    assert json.load(open(tmp_path / 'study.json'))['baseline'] == 'ce'
    assert os.path.getsize(tmp_path / 'trimap.png') > 1000
    means = summary['variants']['ce']['mean_metrics']
    assert means['mIoU_band_w3'] == pytest.approx(
        (summary['variants']['ce']['per_seed'][0]['mIoU_band_w3'] +
         summary['variants']['ce']['per_seed'][1]['mIoU_band_w3']) / 2)
    # the option reached the run: its dumped config has the new weight
    dumped = open(osp.join(wd, 'semeda_w2_s1', 'tiny_semeda.py')).read()
    assert 'loss_weight=2.0' in dumped.replace(' ', '')
    assert 'seed=1' in dumped.replace(' ', '')
    assert 'interval=7' in dumped.replace(' ', '')  # the common option
    assert '[study] start' in capsys.readouterr().out
    main(argv)  # everything done: nothing is trained again
    assert '[study] start' not in capsys.readouterr().out


def test_a_run_in_progress_is_not_started_twice(tmp_path):
    import subprocess
    import sys

    from study_losses import _take_lock
    path = str(tmp_path / 'ce_s0')
    assert _take_lock(path)
    assert not _take_lock(path)  # held by this (live) process
    done = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'],
                          capture_output=True, text=True)
    with open(path + '.lock', 'w') as f:
        f.write(done.stdout.strip())  # a study that has exited
    assert _take_lock(path)
    assert open(path + '.lock').read() == str(os.getpid())


def test_test_option_scores_each_run_on_the_test_set(tmp_path, shapes_root,
                                                     capsys):
    ce = tiny_config(tmp_path, shapes_root, loss='ce', iters=2)
    wd = str(tmp_path / 'study')
    argv = ['--variant', 'ce', ce, '--seeds', '0', '--test',
            '--work-dir', wd]
    summary = main(argv)
    run = osp.join(wd, 'ce_s0')
    saved = json.load(open(osp.join(run, 'test_metrics.json')))
    assert saved['checkpoint'].endswith('iter_2.pth')
    test = summary['test']['variants']['ce']
    assert test['per_seed'][0] == saved['metrics']
    # the tiny config's test set is its val set: the same numbers
    assert test['per_seed'][0]['mIoU'] == pytest.approx(
        summary['variants']['ce']['per_seed'][0]['mIoU'], abs=0.01)
    assert 'Test set:' in capsys.readouterr().out
    main(argv)  # trained and tested: nothing runs again
    assert '[study] ' not in capsys.readouterr().out


def test_a_run_whose_validation_was_cut_is_validated_not_trained_again(
        tmp_path, shapes_root, capsys):
    import glob
    import shutil

    from study_losses import final_checkpoint
    ce = tiny_config(tmp_path, shapes_root, loss='ce', iters=2)
    wd = str(tmp_path / 'study')
    argv = ['--variant', 'ce', ce, '--seeds', '0', '--work-dir', wd]
    first = main(argv)['variants']['ce']['per_seed'][0]
    run = osp.join(wd, 'ce_s0')
    scalars, = glob.glob(osp.join(run, '*', 'vis_data', 'scalars.json'))
    rows = [r for r in open(scalars) if 'mIoU' not in r]
    open(scalars, 'w').writelines(rows)  # the machine went away in val
    checkpoint = final_checkpoint(run)
    assert checkpoint.endswith('iter_2.pth')
    stamp = os.path.getmtime(checkpoint)
    capsys.readouterr()
    again = main(argv)['variants']['ce']['per_seed'][0]
    out = capsys.readouterr().out
    assert '[study] validate' in out and '[study] start' not in out
    assert os.path.getmtime(checkpoint) == stamp  # not trained again
    assert osp.isfile(osp.join(run, 'val_metrics.json'))
    assert again['mIoU'] == pytest.approx(first['mIoU'], abs=0.01)
    assert again['mIoU_band_w3'] == pytest.approx(first['mIoU_band_w3'],
                                                  abs=0.01)
    # a run cut before its last iteration has no final checkpoint
    shutil.copy(checkpoint, osp.join(run, 'iter_1.pth'))
    with open(osp.join(run, 'last_checkpoint'), 'w') as f:
        f.write(osp.join(run, 'iter_1.pth'))
    assert final_checkpoint(run) is None
    assert final_checkpoint(str(tmp_path / 'nothing')) is None


def test_a_run_cut_in_training_is_resumed_from_its_checkpoint(
        tmp_path, shapes_root, capsys):
    import glob

    from study_losses import final_checkpoint, resume_checkpoint
    ce = tiny_config(tmp_path, shapes_root, loss='ce', iters=4)
    wd = str(tmp_path / 'study')
    argv = ['--variant', 'ce', ce, '--seeds', '0', '--work-dir', wd]
    main(argv)
    run = osp.join(wd, 'ce_s0')
    # the machine went away after iteration 3: the checkpoint of
    # iteration 2 is the latest, no validation was written
    os.remove(osp.join(run, 'iter_4.pth'))
    with open(osp.join(run, 'last_checkpoint'), 'w') as f:
        f.write(osp.join(run, 'iter_2.pth'))
    first, = glob.glob(osp.join(run, '*', 'vis_data', 'scalars.json'))
    rows = [r for r in open(first)
            if 'mIoU' not in r and json.loads(r).get('iter', 0) <= 3]
    open(first, 'w').writelines(rows)
    assert read_metrics(run) is None and final_checkpoint(run) is None
    assert resume_checkpoint(run).endswith('iter_2.pth')
    capsys.readouterr()
    again = main(argv)['variants']['ce']['per_seed'][0]
    out = capsys.readouterr().out
    assert '[study] resume' in out and '[study] start' not in out
    assert osp.isfile(osp.join(run, 'iter_4.pth'))
    assert resume_checkpoint(run) is None
    assert 0 <= again['mIoU'] <= 100
    # the resumed part trained iterations 3 and 4 only
    second, = set(glob.glob(osp.join(run, '*', 'vis_data',
                                     'scalars.json'))) - {first}
    iters = [json.loads(r)['iter'] for r in open(second) if 'loss' in r]
    assert iters == [3, 4]
    # a run with no checkpoint is started, not resumed
    assert resume_checkpoint(str(tmp_path / 'nothing')) is None


def test_seed_in_options_becomes_the_run_seed():
    from study_losses import _command
    variant = parse_variant(['ft', 'c.py', 'load_from=w/ce_s{seed}/i.pth'])
    cmd = _command(variant, 2, 'wd', ['x.y=1', 'z=a{seed}'])
    assert cmd[cmd.index('--cfg-options') + 1:] == [
        'randomness.seed=2', 'x.y=1', 'z=a2', 'load_from=w/ce_s2/i.pth']
