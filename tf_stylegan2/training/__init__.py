"""StyleGAN2 training: losses, training loop, checkpoints."""
