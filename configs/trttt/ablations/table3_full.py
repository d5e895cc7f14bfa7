# Table 3, row 5: the full method (TRL + projection + masking).
_base_ = '../synth_t2n.py'
