

@pytest.mark.slow
def test_a_resumed_ema_run_continues_both_weights(data_dir, tmp_path):
    """Two steps, then the same run to four: the EMA is restored and keeps averaging (4 updates,
    not 2 from a fresh copy), and the raw weights it resumed from are the raw ones, not the EMA."""
    common = ("optim.ema_decay=0.5", "trainer.val_check_interval=2", "callbacks.checkpoint_every_n_steps=2")
    out, first = _run(data_dir, tmp_path, "ema_resume", "trainer.max_steps=2", *common)
    two = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert first["global_step"] == 2 and int(two["averaging_state"]["n_averaged"]) == 2
    assert any(not torch.equal(v, two["current_model_state"][k]) for k, v in two["state_dict"].items())
    _, second = _run(data_dir, tmp_path, "ema_resume", "trainer.max_steps=4", *common)
    four = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert second["global_step"] == 4 and int(four["averaging_state"]["n_averaged"]) == 4
    assert not list(out.glob("previous-*"))  # resumed, not started over
