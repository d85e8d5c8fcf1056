"""Evaluation metrics with the official definitions (spec §13): FID, KID, precision/recall,
Inception score and perceptual path length, plus a detector-free pixel-space Fréchet distance.

`calc_metric(name, G, dataset)` evaluates one metric; `report_metric` appends its ADA jsonl
line to a run directory; the maths functions take features and are float64 inside.
"""

from tf_stylegan2.metrics.calc import calc_metric, check_inputs, format_result_line, format_time, report_metric
from tf_stylegan2.metrics.features import FeatureStats, metric_devices
from tf_stylegan2.metrics.frechet import fid_from_features, fid_from_stats
from tf_stylegan2.metrics.inception import INCEPTION_URL, InceptionDetector, load_inception
from tf_stylegan2.metrics.inception_score import is_from_probabilities
from tf_stylegan2.metrics.kernel import kid_from_features
from tf_stylegan2.metrics.names import KNOWN_METRICS, MetricError, MetricSpec, parse_metric, parse_metric_list
from tf_stylegan2.metrics.pixel_fd import generated_images, pixel_fd, pixel_features
from tf_stylegan2.metrics.path_length import lerp, lpips_distance, path_distances, ppl_from_distances, slerp
from tf_stylegan2.metrics.precision_recall import pr_from_features
from tf_stylegan2.metrics.vgg16 import Vgg16Detector, load_vgg16

__all__ = ["FeatureStats", "INCEPTION_URL", "InceptionDetector", "KNOWN_METRICS", "MetricError", "MetricSpec",
           "Vgg16Detector", "calc_metric", "check_inputs", "fid_from_features", "fid_from_stats", "format_result_line",
           "format_time", "generated_images", "is_from_probabilities", "kid_from_features", "lerp", "load_inception", "load_vgg16",
           "lpips_distance", "metric_devices", "parse_metric", "parse_metric_list", "path_distances",
           "pixel_fd", "pixel_features", "ppl_from_distances", "pr_from_features", "report_metric", "slerp"]
