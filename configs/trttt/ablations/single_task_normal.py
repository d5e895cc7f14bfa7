# Tables 8/9, "TR-TTT (single)": the model, the TRL and the data use the
# single task 'normal'; the TRL predicts it from its own latent only.
_base_ = '../synth_t2n.py'
tasks = ('normal', )
model = dict(decode_head=dict(tasks=tasks))
train_dataloader = dict(dataset=dict(tasks=tasks))
val_dataloader = dict(dataset=dict(tasks=tasks))
test_dataloader = dict(dataset=dict(tasks=tasks))
