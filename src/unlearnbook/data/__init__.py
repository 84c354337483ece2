"""Datasets, splits and unlearning scenarios (``ub.data.make_task``)."""
from .dataset import (ArrayDataset, batches, dataset_fingerprint, stratified_order,
                      stratified_sample)
from .sources import (CIFAR20_NAMES, CIFAR100_COARSE, DATASETS, DIGITS5_GROUPS, RawData,
                      data_root, load_raw)
from .tasks import SCENARIOS, Task, class_index, forget_summary, make_task, training_set

__all__ = ["ArrayDataset", "batches", "dataset_fingerprint", "stratified_order", "stratified_sample",
           "CIFAR20_NAMES", "CIFAR100_COARSE",
           "DATASETS", "DIGITS5_GROUPS", "RawData", "data_root", "load_raw", "SCENARIOS", "Task",
           "class_index", "forget_summary", "make_task", "training_set"]
