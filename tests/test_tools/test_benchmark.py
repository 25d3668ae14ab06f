import json

import pytest
from benchmark_loss import main


def test_benchmark_tool_writes_the_documented_fields(tmp_path):
    out = tmp_path / 'bench.json'
    res = main(['--backbone', 'r18', '--crop', '64', '--batch', '2',
                '--num-classes', '5', '--steps', '1', '--warmup', '0',
                '--variants', 'ce', 'semeda', '--memory-rounds', '1',
                '--json', str(out)])
    saved = json.loads(out.read_text())
    for key in ('device', 'backbone', 'num_classes', 'crop', 'batch',
                'ce_step_s', 'semeda_step_s', 'semeda_ratio', 'ce_peak_mb',
                'semeda_peak_mb', 'semeda_peak_ratio', 'semeda_loss_only_s',
                'ce_loss_only_s', 'semeda_convs_s', 'semeda_loss_to_convs',
                'ce_peak_mb_fixed_mmap', 'semeda_peak_mb_fixed_mmap',
                'semeda_peak_ratio_fixed_mmap', 'semeda_ratio_paired'):
        assert key in saved, key
    assert saved == json.loads(json.dumps(res))
    # the loss alone, timed apart (no order of times asserted: one step
    # without warm-up on a busy machine can take any order)
    for v in ('ce', 'semeda'):
        assert saved[f'{v}_loss_only_s'] > 0 and saved[f'{v}_step_s'] > 0, v
    assert saved['semeda_peak_mb'] > 0
    # one round: the paired ratio is that round's ratio
    assert saved['semeda_ratio_paired'] == pytest.approx(
        saved['semeda_step_s'] / saved['ce_step_s'])
    assert saved['semeda_peak_ratio_fixed_mmap'] == (
        saved['semeda_peak_mb_fixed_mmap'] / saved['ce_peak_mb_fixed_mmap'])
    assert saved['semeda_convs_s'] > 0
    assert saved['semeda_loss_to_convs'] == (saved['semeda_loss_only_s'] /
                                             saved['semeda_convs_s'])


def test_semeda_options_reach_the_loss(tmp_path):
    argv = ['--crop', '32', '--batch', '1', '--num-classes', '3', '--steps',
            '1', '--warmup', '0', '--variants', 'semeda',
            '--skip-train-step']
    res = main(argv + ['--semeda-options', 'band_width=2',
                       'class_balance=True'])
    assert res['semeda_options'] == dict(band_width=2, class_balance=True)
    assert res['semeda_loss_only_s'] > 0
    with pytest.raises(ValueError, match='band_width must be'):
        main(argv + ['--semeda-options', 'band_width=0'])


def test_peak_memory_is_the_median_of_rounds_of_probes(monkeypatch):
    """Each CPU figure is the median over --memory-rounds rounds of fresh
    processes, every variant in turn within a round."""
    import argparse

    import benchmark_loss
    values = {('ce', False): [980, 1010, 990], ('semeda', False): [1100, 1060,
                                                                   1070],
              ('ce', True): [835, 836, 834], ('semeda', True): [858, 857, 900]}
    calls = []

    def probe(argv, variant, fixed_mmap=False):
        calls.append((variant, fixed_mmap))
        return values[variant, fixed_mmap][len(
            [c for c in calls if c == (variant, fixed_mmap)]) - 1]

    monkeypatch.setattr(benchmark_loss, '_cpu_peak_mb', probe)
    args = argparse.Namespace(memory_rounds=3, variants=['ce', 'semeda'],
                              argv=[])
    assert benchmark_loss._cpu_peaks(args) == dict(
        ce_peak_mb=990, semeda_peak_mb=1070, ce_peak_mb_fixed_mmap=835,
        semeda_peak_mb_fixed_mmap=858)
    assert calls == [('ce', False), ('semeda', False), ('ce', True),
                     ('semeda', True)] * 3


def test_memory_rounds_below_one_are_refused(capsys):
    with pytest.raises(SystemExit):
        main(['--memory-rounds', '0'])
    assert '--memory-rounds must be at least 1, got 0' in (
        capsys.readouterr().err)
