# The demo's mask-scoring network: the tiny scorer
# (../mask_scoring/mask-scorer-tiny_1xb16-20e_synthetic-48x48.py: 16/32/32
# channels, 48x48 inputs) for 10 epochs instead of 20, validated every 5.
# tools/sal_pipeline.py trains it on the set it synthesises from the demo's
# own proxies (and points data_root and ann_file there). The demo trades
# epochs for time: 40 epochs gave the best scorer on the benchmark's data
# (docs/benchmarks_sal.md), about 3 CPU minutes the demo does not have.
_base_ = ['../mask_scoring/mask-scorer-tiny_1xb16-20e_synthetic-48x48.py']

train_cfg = dict(max_epochs=10, val_interval=5)
randomness = dict(seed=0)
