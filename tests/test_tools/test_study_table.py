"""tools/study_table.py: paired differences of a study's JSON as markdown,
written into a marked block of a document."""
import json

import pytest
from study_table import differences, fill, main, report


def _summary():
    def run(miou, band, road, switch=None):
        m = {'mIoU': miou, 'mIoU_band_w3': band, 'IoU.sky': 90.0,
             'IoU.road': road}
        if switch is not None:
            m['switch_iter.loss_semeda'] = switch
        return m
    val = dict(baseline='ce', variants=dict(
        ce=dict(per_seed={'0': run(50.0, 30.0, 80.0),
                          '1': run(52.0, 31.0, 81.0)}),
        semeda=dict(per_seed={'0': run(51.0, 33.0, 79.0, 98),
                              '1': run(55.0, 34.0, 80.0, 120)}),
        other=dict(per_seed={'1': run(51.0, 30.5, 82.0)})))
    test = json.loads(json.dumps(val))
    test['variants']['semeda']['per_seed']['1']['mIoU'] = 51.0  # Δ −1
    return dict(val, test=test)


def test_differences_pair_seeds_both_variants_ran():
    s = _summary()
    assert differences(s, 'semeda', 'ce', 'mIoU') == {0: 1.0, 1: 3.0}
    assert differences(s, 'other', 'ce', 'mIoU') == {1: -1.0}
    with pytest.raises(KeyError, match="'nope' not in the study"):
        differences(s, 'nope', 'ce', 'mIoU')


def test_report_rows_per_split_and_pair():
    text = report(_summary(), [('semeda', 'ce', 'S − CE'),
                               ('other', 'ce', 'O − CE')], 'drive X')
    rows = text.splitlines()
    # Δ mIoU 1 and 3: +2.00 ± 1.41; band w3 +3 both seeds: ± 0.00
    val = next(r for r in rows if r.startswith('| S − CE | val |'))
    assert '| 0,1 | +2.00 ± 1.41 | - | +3.00 ± 0.00 |' in val
    assert val.endswith('| +1.00 / +3.00, +3.00 / +3.00 |')
    test = next(r for r in rows if r.startswith('| S − CE | drive X |'))
    assert '+0.00 ± 1.41' in test and '−1.00 / +3.00' in test
    assert '| O − CE | val | 1 | −1.00 | - | −0.50 |' in text
    assert "ce's mIoU per seed: val 50.00 / 52.00; drive X 50.00 / 52.00" \
        in text
    assert 'semeda 98 / 120' in text
    assert ('Per class on val, S − CE (mean over seeds 0,1): sky +0.0, '
            'road −1.0.') in text
    assert 'Per class on val, O − CE (seed 1): sky +0.0, road +1.0.' in text


def test_fill_replaces_only_the_marked_block(tmp_path):
    doc = tmp_path / 'r.md'
    doc.write_text('a\n<!-- t -->\nold\n<!-- /t -->\nb\n')
    fill(str(doc), 't', 'new\n')
    assert doc.read_text() == 'a\n<!-- t -->\nnew\n<!-- /t -->\nb\n'
    with pytest.raises(ValueError, match='no <!-- u -->'):
        fill(str(doc), 'u', 'x')
    assert doc.read_text() == 'a\n<!-- t -->\nnew\n<!-- /t -->\nb\n'


def test_command_line_writes_into_the_document(tmp_path):
    study = tmp_path / 's.json'
    study.write_text(json.dumps(_summary()))
    doc = tmp_path / 'r.md'
    doc.write_text('<!-- t -->\n<!-- /t -->\n')
    main([str(study), '--pair', 'semeda', 'ce', 'S − CE', '--into',
          str(doc), '--marker', 't'])
    assert '| S − CE | test | 0,1 |' in doc.read_text()
    with pytest.raises(SystemExit):
        main([str(study), '--pair', 'semeda', 'ce', 'x', '--into', 'f'])
