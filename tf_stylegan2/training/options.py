"""Training configurations: StyleGAN2-ADA's `--cfg` presets, the TF1 `--config` presets, and the
options dict saved as `training_options.json` (spec §4, §10, §12.3, §12.4).

The options dict is the single description of a run: the loop reads nothing else, and
`--resume=<run dir>` continues from the dict stored in the run directory.
"""

import math

import tensorflow as tf

from tf_stylegan2.networks import recompute
from tf_stylegan2.networks.common import NUM_REDUCED_PRECISION_RES, PRECISIONS, channels_rule

# ADA train.py presets (spec §12.3). -1: computed by `auto` from the resolution and GPU count.
CFG_SPECS = {
    "auto": dict(ref_gpus=-1, kimg=25000, mb=-1, mbstd=-1, fmaps=-1, lrate=-1, gamma=-1, ema=-1, ramp=0.05, map=2),
    "stylegan2": dict(ref_gpus=8, kimg=25000, mb=32, mbstd=4, fmaps=1, lrate=0.002, gamma=10, ema=10, ramp=None, map=8),
    "paper256": dict(ref_gpus=8, kimg=25000, mb=64, mbstd=8, fmaps=0.5, lrate=0.0025, gamma=1, ema=20, ramp=None,
                     map=8),
    "paper512": dict(ref_gpus=8, kimg=25000, mb=64, mbstd=8, fmaps=1, lrate=0.0025, gamma=0.5, ema=20, ramp=None,
                     map=8),
    "paper1024": dict(ref_gpus=8, kimg=25000, mb=32, mbstd=4, fmaps=1, lrate=0.002, gamma=2, ema=10, ramp=None, map=8),
    "cifar": dict(ref_gpus=2, kimg=100000, mb=64, mbstd=32, fmaps=1, lrate=0.0025, gamma=0.01, ema=500, ramp=0.05,
                  map=2),
}
# TF1 run_training.py configs (spec §4): config-f = stylegan2 with fmap_base 16384, config-e halves it.
TF1_CONFIGS = {
    "config-e": dict(ref_gpus=8, kimg=25000, mb=32, mbstd=4, fmaps=0.5, lrate=0.002, gamma=100, ema=10, ramp=None,
                     map=8),
    "config-f": dict(ref_gpus=8, kimg=25000, mb=32, mbstd=4, fmaps=1, lrate=0.002, gamma=10, ema=10, ramp=None, map=8),
}
TF1_TICK_KIMG = {8: 28, 16: 24, 32: 20, 64: 16, 128: 12, 256: 8, 512: 6, 1024: 4}
AUG_MODES = ("noaug", "ada", "fixed")
ADA_DEFAULTS = dict(ada_target=0.6, ada_interval=4, ada_kimg=500, ada_kimg_resume=100)
LOSS_DEFAULTS = dict(pl_weight=2.0, pl_decay=0.01, pl_batch_shrink=2, style_mixing_prob=0.9, G_reg_interval=4,
                     D_reg_interval=16)
ADAM_BETAS, ADAM_EPS = (0.0, 0.99), 1e-8
# Mixed precision (spec §12.3): every ADA preset computes its 4 highest resolutions below float32
# with conv_clamp 256; NVIDIA's TF1 configs (and --fp32) compute in float32 without a clamp.
MIXED_CONV_CLAMP = 256
PRECISION_CHOICES = ("auto",) + tuple(sorted(PRECISIONS))
# StyleGAN2-ADA train.py --resume names (transfer-learning sources, spec §12.3).
RESUME_ALIASES = {
    name: "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/transfer-learning-source-nets/" + f
    for name, f in (("ffhq256", "ffhq-res256-mirror-paper256-noaug.pkl"),
                    ("ffhq512", "ffhq-res512-mirror-stylegan2-noaug.pkl"),
                    ("ffhq1024", "ffhq-res1024-mirror-stylegan2-noaug.pkl"),
                    ("celebahq256", "celebahq-res256-mirror-paper256-kimg100000-ada-target0.5.pkl"),
                    ("lsundog256", "lsundog-res256-paper256-kimg100000-noaug.pkl"))}


class OptionsError(ValueError):
    """Inconsistent or out-of-range training options (one-line message)."""


def auto_spec(resolution, gpus):
    """ADA's `auto` preset for a resolution and GPU count -> a full spec dict."""
    spec = dict(CFG_SPECS["auto"])
    spec["ref_gpus"] = gpus
    spec["mb"] = max(min(gpus * min(4096 // resolution, 32), 64), gpus)
    spec["mbstd"] = min(spec["mb"] // gpus, 4)
    spec["fmaps"] = 1 if resolution >= 512 else 0.5
    spec["lrate"] = 0.002 if resolution >= 1024 else 0.0025
    spec["gamma"] = 0.0002 * resolution ** 2 / spec["mb"]
    spec["ema"] = spec["mb"] * 10 / 32
    return spec


def preset(name, resolution, gpus):
    """The spec of a `--cfg` name or a TF1 `--config` name."""
    if name == "auto":
        return auto_spec(resolution, gpus)
    if name in CFG_SPECS:
        return dict(CFG_SPECS[name])
    if name in TF1_CONFIGS:
        return dict(TF1_CONFIGS[name])
    raise OptionsError("unknown config %r: expected one of %s" % (name, ", ".join(list(CFG_SPECS) + list(TF1_CONFIGS))))


def network_kwargs(spec, resolution, channels, label_dim, cbase=None, cmax=512, map_layers=None, mbstd_group=None,
                   batch_gpu=None, tf1=False, d_architecture="resnet", z_dim=512, w_dim=512, conv_clamp=None):
    """-> (G config for `Generator.from_config`, D kwargs for `Discriminator`).

    ADA's `channel_base` (`cbase`, default `fmaps * 32768`) is twice the TF1 `fmap_base` of our
    networks (`channels = min(channel_base // res, cmax)`). TF1 configs label G by `LabelConcat`
    and D by its one-hot output; ADA configs embed the label (G) and project it (D: 8 mapping layers,
    lr multiplier 0.01, `cmap_dim` = the 4x4 channels), as ADA's networks do. `conv_clamp` goes to
    G's synthesis and to D (256 for mixed precision).
    """
    channel_base = int(cbase if cbase is not None else spec["fmaps"] * 32768)
    fmap_base = channel_base // 2
    nf = channels_rule(fmap_base, 1.0, 1, cmax)
    num_ws = 2 * int(math.log2(resolution)) - 2
    mapping = dict(z_dim=z_dim, c_dim=label_dim, w_dim=w_dim, num_ws=num_ws,
                   num_layers=int(map_layers if map_layers is not None else spec["map"]), layer_features=w_dim,
                   lr_multiplier=0.01, activation="lrelu", normalize_latents=True,
                   label_mode="concat" if tf1 else "embed", w_avg_beta=0.995, name="mapping")
    synthesis = dict(w_dim=w_dim, img_resolution=resolution, img_channels=channels, fmap_base=fmap_base, fmap_max=cmax,
                     architecture="skip", resample_filter=[1, 3, 3, 1], conv_clamp=conv_clamp, name="synthesis")
    group = int(mbstd_group if mbstd_group is not None else spec["mbstd"])
    if batch_gpu is not None:
        group = min(group, batch_gpu)
    D = dict(c_dim=label_dim, img_resolution=resolution, img_channels=channels, architecture=d_architecture,
             fmap_base=fmap_base, fmap_max=cmax, mbstd_group_size=group,
             mbstd_num_features=1, resample_filter=[1, 3, 3, 1], conv_clamp=conv_clamp)
    if label_dim and not tf1:
        D.update(label_mode="projection", cmap_dim=nf(1), mapping_layers=8, mapping_lr_multiplier=0.01)
    return dict(mapping=mapping, synthesis=synthesis, name="G"), D


def lazy_adam(lr, reg_interval, betas=ADAM_BETAS, eps=ADAM_EPS):
    """Adam kwargs with the lazy-regularisation correction (spec §10): lr and betas scaled by I/(I+1)."""
    ratio = reg_interval / (reg_interval + 1) if reg_interval else 1.0
    return dict(lr=lr * ratio, betas=[b ** ratio for b in betas], eps=eps, mb_ratio=ratio)


def run_desc(args, cfg_name, data_name, gpus, spec_used):
    """ADA's run-directory description (spec §12.3), or TF1's `stylegan2-<dataset>-<N>gpu-<config>`."""
    if args.get("config"):
        return "stylegan2-%s-%dgpu-%s" % (data_name, gpus, args["config"])
    desc = data_name
    if args.get("cond"):
        desc += "-cond"
    if args.get("mirror"):
        desc += "-mirror"
    desc += "-%s%s" % (cfg_name, gpus if cfg_name == "auto" else "")
    for key, fmt in (("gamma", "-gamma%g"), ("kimg", "-kimg%g"), ("batch", "-batch%d")):
        if args.get(key) is not None:
            desc += fmt % args[key]
    if args.get("aug") is not None:
        desc += "-" + args["aug"]
    if args.get("p") is not None:
        desc += "-p%g" % args["p"]
    if args.get("target") is not None:
        desc += "-target%g" % args["target"]
    if args.get("augpipe") is not None:
        desc += "-" + args["augpipe"]
    if args.get("resume"):
        desc += "-resume" + (args["resume"] if args["resume"] in RESUME_ALIASES else "custom")
    if args.get("freezed"):
        desc += "-freezed%d" % args["freezed"]
    return desc


def resumed_options(opts, args):
    """The options of a run continued in place (`--resume=<run dir>`): `opts` (its
    training_options.json) with the values meant for a resumed run applied, where `args` gives
    them (not None): kimg (a new length), snap (ticks between snapshots), metrics (names; [] =
    none), recompute and mem_budget (a new mode keeps the run's budget only if it is "auto" again).
    Every other option stays the run's own."""
    opts = dict(opts)
    if args.get("kimg") is not None:
        _check(float(args["kimg"]) > 0, "--kimg must be > 0, got %g" % float(args["kimg"]))
        opts["total_kimg"] = float(args["kimg"])
    if args.get("snap") is not None:
        _check(int(args["snap"]) >= 1, "--snap must be >= 1, got %d" % int(args["snap"]))
        opts["image_snapshot_ticks"] = opts["network_snapshot_ticks"] = int(args["snap"])
    if args.get("metrics") is not None:
        opts["metrics"] = list(args["metrics"])
    if args.get("recompute") is not None or args.get("mem_budget") is not None:
        mode = args.get("recompute") or opts.get("recompute") or "off"
        budget = args.get("mem_budget")
        if budget is None and mode == "auto":
            budget = opts.get("mem_budget")
        opts["recompute"], opts["mem_budget"] = mode, _mem_budget(dict(recompute=mode, mem_budget=budget))
    return opts


def _check(cond, message):
    if not cond:
        raise OptionsError(message)


def training_options(args, dataset):
    """Command-line values -> the options dict (`training_options.json`).

    Args:
      args: dict of the parsed flags (None = not given): data, cfg, config, gpus, kimg, batch, snap,
        tick, seed, metrics (list), batch_gpu (per-replica rounds; default the preset's
        mb // ref_gpus, or batch // gpus with --batch), cond, mirror, cbase, cmax, map,
        z_dim, w_dim (latent and style sizes, default 512), glr, dlr, mbstd_group, gamma,
        aug, p, target, augpipe, resume (a network source, not a run dir), freezed, fp32 (bool),
        precision (one of `PRECISION_CHOICES`, default auto), xla (bool), recompute (one of
        `recompute.MODES`, default off), mem_budget (GB, for recompute auto; default the device's memory).
      dataset: an open dataset (name, resolution, num_channels, label_dim, num_images).
    Raises:
      OptionsError: a bad combination or value.
    """
    gpus = int(args.get("gpus") or 1)
    _check(gpus >= 1 and gpus & (gpus - 1) == 0, "--gpus must be a power of two, got %d" % gpus)
    tf1 = bool(args.get("config"))
    cfg_name = args.get("config") or args.get("cfg") or "auto"
    res = dataset.resolution
    spec = preset(cfg_name, res, gpus)
    label_dim = dataset.label_dim if args.get("cond") else 0
    _check(not args.get("cond") or dataset.label_dim > 0, "--cond requires labels, but dataset %s has none"
           % dataset.name)

    batch = int(args["batch"]) if args.get("batch") is not None else spec["mb"]
    _check(batch >= 1 and batch % gpus == 0, "--batch must be >= 1 and divisible by --gpus (%d), got %d"
           % (gpus, batch))
    if args.get("batch_gpu"):
        batch_gpu = int(args["batch_gpu"])
    elif args.get("batch") is None:  # the preset's per-GPU batch: fewer GPUs than ref_gpus accumulate
        batch_gpu = min(spec["mb"] // spec["ref_gpus"], batch // gpus)
    else:
        batch_gpu = batch // gpus
    _check(batch_gpu >= 1 and (batch // gpus) % batch_gpu == 0, "--batch-gpu must divide the per-device batch (%d), "
           "got %d" % (batch // gpus, batch_gpu))
    gamma = float(args["gamma"]) if args.get("gamma") is not None else spec["gamma"]
    _check(gamma >= 0, "--gamma must be >= 0, got %g" % gamma)
    kimg = float(args["kimg"]) if args.get("kimg") is not None else spec["kimg"]
    _check(kimg > 0, "--kimg must be > 0, got %g" % kimg)
    cmax = int(args["cmax"]) if args.get("cmax") is not None else 512
    _check(args.get("cbase") is None or args["cbase"] >= 4, "--cbase must be >= 4")
    _check(cmax >= 1, "--cmax must be >= 1")
    _check(args.get("map") is None or args["map"] >= 1, "--map must be >= 1")
    z_dim, w_dim = int(args.get("z_dim") or 512), int(args.get("w_dim") or 512)
    _check(z_dim >= 1 and w_dim >= 1, "--z-dim and --w-dim must be >= 1")
    group = args.get("mbstd_group")
    _check(group is None or group >= 1, "--mbstd-group must be >= 1")
    mixed = _mixed_precision_options(args, tf1)
    G_kwargs, D_kwargs = network_kwargs(spec, res, dataset.num_channels, label_dim, cbase=args.get("cbase"), cmax=cmax,
                                        map_layers=args.get("map"), mbstd_group=group, batch_gpu=batch_gpu, tf1=tf1,
                                        d_architecture="orig" if cfg_name == "cifar" else "resnet", z_dim=z_dim,
                                        w_dim=w_dim, conv_clamp=mixed["conv_clamp"])
    if D_kwargs["mbstd_group_size"] > 1:
        _check(batch_gpu % D_kwargs["mbstd_group_size"] == 0, "the per-GPU batch (%d) must be divisible by the "
               "minibatch-stddev group (%d): change --batch or --mbstd-group"
               % (batch_gpu, D_kwargs["mbstd_group_size"]))
    loss = dict(LOSS_DEFAULTS, r1_gamma=gamma)
    if cfg_name == "cifar":
        loss.update(pl_weight=0.0, style_mixing_prob=0.0)
    glr = float(args["glr"]) if args.get("glr") is not None else spec["lrate"]
    dlr = float(args["dlr"]) if args.get("dlr") is not None else spec["lrate"]
    _check(glr > 0 and dlr > 0, "--glr and --dlr must be > 0")

    snap = int(args["snap"]) if args.get("snap") is not None else (10 if tf1 else 50)
    _check(snap >= 1, "--snap must be >= 1, got %d" % snap)
    tick = float(args["tick"]) if args.get("tick") is not None else (TF1_TICK_KIMG.get(res, 4) if tf1 else 4)
    _check(tick > 0, "--tick must be > 0, got %g" % tick)
    freezed = int(args.get("freezed") or 0)
    _check(freezed >= 0, "--freezed must be >= 0, got %d" % freezed)

    augment = _augment_options(args, tf1)
    resume = args.get("resume") or None
    if resume:
        augment["ada_kimg"] = ADA_DEFAULTS["ada_kimg_resume"]
    opts = dict(
        num_gpus=gpus, num_replicas=gpus, image_snapshot_ticks=snap, network_snapshot_ticks=snap, kimg_per_tick=tick,
        metrics=list(args.get("metrics") or []), random_seed=int(args.get("seed") or 0),
        training_set_kwargs=dict(path=args["data"], use_labels=bool(label_dim), xflip=bool(args.get("mirror")),
                                 resolution=res, num_channels=dataset.num_channels, label_dim=label_dim,
                                 max_size=dataset.num_images),
        data_loader_kwargs=dict(prefetch=2),
        G_kwargs=G_kwargs, D_kwargs=D_kwargs,
        G_opt_kwargs=lazy_adam(glr, loss["G_reg_interval"] if loss["pl_weight"] else 0),
        D_opt_kwargs=lazy_adam(dlr, loss["D_reg_interval"]),
        loss_kwargs=loss, total_kimg=kimg, batch_size=batch, batch_gpu=batch_gpu,
        ema_kimg=spec["ema"],
        ema_rampup=None if resume else spec["ramp"], resume_pkl=resume, freezed=freezed, cfg=cfg_name, tf1=tf1,
        num_fp16_res=mixed["num_fp16_res"], precision=mixed["precision"], xla=bool(args.get("xla")),
        recompute=args.get("recompute") or "off", mem_budget=_mem_budget(args), **augment)
    opts["desc"] = run_desc(args, cfg_name, dataset.name, gpus, spec)
    return opts


def _mem_budget(args):
    """--recompute and --mem-budget checked -> the budget in GB (a float) or None."""
    mode, budget = args.get("recompute") or "off", args.get("mem_budget")
    _check(mode in recompute.MODES, "--recompute must be one of %s, got %r" % (", ".join(recompute.MODES), mode))
    _check(budget is None or mode == "auto", "--mem-budget applies to --recompute=auto only")
    _check(budget is None or float(budget) > 0, "--mem-budget must be > 0 (GB), got %s" % budget)
    return None if budget is None else float(budget)


def _mixed_precision_options(args, tf1):
    """--fp32/--precision -> num_fp16_res, precision (the request) and conv_clamp.

    ADA presets: the 4 highest resolutions of G and D below float32 (`precision` "auto" picks the
    dtype on the machine that trains: see `compute_precision`) with conv_clamp 256. TF1 configs
    and --fp32: float32 throughout, no clamp. An explicit --precision=fp16/bf16 turns mixed
    precision on for a TF1 config too.
    """
    precision = args.get("precision") or "auto"
    _check(precision in PRECISION_CHOICES, "--precision must be one of %s, got %r"
           % (", ".join(PRECISION_CHOICES), precision))
    _check(not (args.get("fp32") and precision not in ("auto", "fp32")), "--fp32 and --precision=%s contradict each "
           "other" % precision)
    fp32 = bool(args.get("fp32")) or precision == "fp32" or (tf1 and precision == "auto")
    if fp32:
        return dict(num_fp16_res=0, precision="fp32", conv_clamp=None)
    return dict(num_fp16_res=NUM_REDUCED_PRECISION_RES, precision=precision, conv_clamp=MIXED_CONV_CLAMP)


def compute_precision(opts):
    """The dtype name ("fp32", "fp16" or "bf16") the options' reduced-precision blocks compute in
    on this machine. "auto": float16 on GPUs, bfloat16 on TPUs, float32 on CPUs (bfloat16 trained
    1.8x slower than float32 on an AVX512-BF16 CPU: see benchmarks/bench_training.py)."""
    if not opts.get("num_fp16_res"):
        return "fp32"
    precision = opts.get("precision", "auto")
    if precision != "auto":
        return precision
    if tf.config.list_logical_devices("GPU"):
        return "fp16"
    if tf.config.list_logical_devices("TPU"):
        return "bf16"
    return "fp32"


def _augment_options(args, tf1):
    """--aug/--p/--target/--augpipe -> ada_target, augment_p, augment_kwargs, ada_kimg, ada_interval (spec §12.2).
    Default: ADA for the --cfg presets, none for the TF1 --config ones (NVIDIA's TF1 code has no augmentation)."""
    aug = args.get("aug") or ("noaug" if tf1 else "ada")
    _check(aug in AUG_MODES, "--aug must be one of %s, got %r" % (", ".join(AUG_MODES), aug))
    out = dict(aug=aug, ada_target=None, augment_p=0.0, augment_kwargs=None, ada_kimg=ADA_DEFAULTS["ada_kimg"],
               ada_interval=ADA_DEFAULTS["ada_interval"])
    p, target, pipe = args.get("p"), args.get("target"), args.get("augpipe")
    _check(p is None or aug == "fixed", "--p can only be given with --aug=fixed")
    _check(target is None or aug == "ada", "--target can only be given with --aug=ada")
    _check(pipe is None or aug != "noaug", "--augpipe cannot be given with --aug=noaug")
    if aug == "ada":
        out["ada_target"] = ADA_DEFAULTS["ada_target"] if target is None else float(target)
        _check(0 <= out["ada_target"] <= 1, "--target must be in [0, 1], got %g" % out["ada_target"])
    if aug == "fixed":
        _check(p is not None, "--aug=fixed requires --p")
        _check(0 <= p <= 1, "--p must be in [0, 1], got %g" % p)
        out["augment_p"] = float(p)
    if aug != "noaug" and (out["augment_p"] > 0 or out["ada_target"] is not None):
        out["augment_kwargs"] = dict(augpipe=pipe or "bgc")
    return out
