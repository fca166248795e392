"""The data path: row-aligned tensors and the batches drawn from them.

Data goes to the device once, as float32 tensors inside a
:class:`TensorData`. :class:`BatchIterator` slices those tensors by index:
no per-sample ``__getitem__``, no collation. For ensembles each member draws
its own shuffle (all members' permutations in one ``argsort`` call) and,
with ``bootstrap=True``, its own bootstrap sample; batches are then ``(B,
n_members, ...)``.
"""

from __future__ import annotations

import math

import torch


class TensorData(torch.utils.data.Dataset):
    """Row-aligned tensors: inputs ``X`` and optional targets ``y``.

    ``y`` may be one tensor or a tuple of tensors (labels plus teacher outputs,
    say); every tensor's first dimension is the row. With ``n_labelled``, the
    rows from ``n_labelled`` on are a pool of extra, unlabelled rows (teacher
    outputs only): a training :class:`BatchIterator` then adds a fresh draw of
    them to every batch of labelled rows.
    """

    def __init__(self, X: torch.Tensor, y=None, n_labelled: int | None = None):
        self.X = X
        self.y = y
        self.n_labelled = n_labelled

    def __len__(self) -> int:
        return len(self.X)

    def _take(self, index):
        if self.y is None:
            return _rows(self.X, index), None
        if isinstance(self.y, tuple):
            return _rows(self.X, index), tuple(_rows(t, index) for t in self.y)
        return _rows(self.X, index), _rows(self.y, index)

    def __getitem__(self, index):
        return self._take(index)


def _rows(t: torch.Tensor, index) -> torch.Tensor:
    """``t[index]``; a tensor of row indices as one ``index_select``.

    torch's CPU advanced indexing took 66 us where ``index_select`` took 15
    us for a ``(B, N)`` index (each member its own rows; 20,000 x 32 float32
    rows, B=256, N=10), and 5.0 against 2.8 us for 256 rows of a 1-D index
    (6,000 x 8, one thread). A slice, an int or a boolean index as usual.
    """
    if not isinstance(index, torch.Tensor) or index.dtype != torch.long:
        return t[index]
    flat = torch.index_select(t, 0, index.reshape(-1))
    return flat.view(*index.shape, *t.shape[1:])


def _to(obj, device, dtype=None, pin=False):
    """``obj`` (a tensor, a tuple of them or None) on ``device``, asynchronously.

    With ``pin``, a host tensor that is not in page-locked memory is copied
    there first: only a copy from pinned memory runs asynchronously to CUDA
    (``non_blocking`` from pageable memory waits for the copy).
    """
    if obj is None:
        return None
    if isinstance(obj, tuple):
        return tuple(_to(t, device, dtype, pin) for t in obj)
    if pin and not obj.is_pinned():
        obj = obj.pin_memory()
    return obj.to(device, dtype, non_blocking=True)


def _gather(t: torch.Tensor, rows: torch.Tensor, pin: bool) -> torch.Tensor:
    """``t[rows]``; with ``pin``, gathered straight into page-locked memory.

    Pinned blocks come from torch's caching host allocator, which keeps a
    block until the asynchronous copy that reads it has finished.
    """
    if not pin:
        return _rows(t, rows)
    out = torch.empty((rows.numel(), *t.shape[1:]), dtype=t.dtype, pin_memory=True)
    torch.index_select(t, 0, rows.reshape(-1), out=out)
    return out.view(*rows.shape, *t.shape[1:])


class BatchIterator:
    """Iterate over a :class:`TensorData` in batches of index slices.

    Parameters
    ----------
    dataset : TensorData
    batch_size : int
    shuffle : bool
        Draw a new permutation every epoch (every ``iter()``).
    n_members : int or None
        If given, each member gets its own permutation and the batch gathers
        rows ``(B, n_members, ...)``; else one shared order, rows ``(B, ...)``.
    member_rows : tensor of shape (n_members, n_rows), optional
        The rows each member trains on (a bootstrap sample, say); by default
        every member sees every row.
    seed : int
        Seed of the iterator's own generator (independent of torch's global one).
    device : str
        Where batches go; a no-op when the data already lives there.
    dtype : torch.dtype, optional
        Cast the batches of ``X`` to this (prediction casts float64 input
        batch by batch, so the whole input is never copied).
    extra_ratio : float
        With a dataset that has a pool of extra rows (``n_labelled``), each
        training batch of ``B`` labelled rows also carries ``round(B *
        extra_ratio)`` extra rows, drawn afresh every epoch from the pool
        (without replacement while the pool lasts). An epoch is still one
        pass over the labelled rows.
    num_processes, process_index : int
        Split every batch over ``num_processes`` processes (multi-GPU
        training): this iterator yields the rows ``process_index::num_processes``
        of each batch, so the processes together see each batch once. A batch
        with fewer rows than processes is padded by repeating its rows, so
        every process takes the same number of steps.
    """

    def __init__(
        self,
        dataset: TensorData,
        batch_size: int,
        *,
        shuffle: bool = False,
        n_members: int | None = None,
        member_rows: torch.Tensor | None = None,
        seed: int = 0,
        device: str = "cpu",
        dtype: torch.dtype | None = None,
        num_processes: int = 1,
        process_index: int = 0,
        extra_ratio: float = 1.0,
    ):
        self.dataset = dataset
        self.extra_ratio = float(extra_ratio)
        self.batch_size = max(1, int(batch_size))
        self.shuffle = shuffle
        self.n_members = n_members
        self.member_rows = member_rows
        self.device = device
        self.dtype = dtype
        self.num_processes = max(1, int(num_processes))
        self.process_index = int(process_index)
        self._data_device = dataset.X.device
        # Data in host memory, batches for a CUDA device: every batch is
        # gathered into pinned memory and copied without blocking the host.
        self._pin = (
            self._data_device.type == "cpu"
            and torch.device(device).type == "cuda"
            and torch.cuda.is_available()
        )
        self._generator = torch.Generator(device=self._data_device)
        self._generator.manual_seed(int(seed))

    def _n_rows(self) -> int:
        if self.member_rows is not None:
            return self.member_rows.shape[1]
        if self._mixes_extra():
            return self.dataset.n_labelled
        return len(self.dataset)

    def _mixes_extra(self) -> bool:
        n_lab = getattr(self.dataset, "n_labelled", None)
        return (
            self.shuffle
            and self.n_members is None
            and n_lab is not None
            and n_lab < len(self.dataset)
            and self.extra_ratio > 0
        )

    def _extra_order(self) -> torch.Tensor:
        """This epoch's extra rows: ``extra_ratio`` per labelled row, fresh each epoch."""
        n_lab = self.dataset.n_labelled
        pool = len(self.dataset) - n_lab
        want = max(1, round(n_lab * self.extra_ratio))
        dev = self._data_device
        draws = [
            torch.randperm(pool, generator=self._generator, device=dev)
            for _ in range(-(-want // pool))
        ]
        return n_lab + torch.cat(draws)[:want]

    def __len__(self) -> int:
        return math.ceil(self._n_rows() / self.batch_size)

    def _order(self) -> torch.Tensor | None:
        n = self._n_rows()
        dev = self._data_device
        if self.n_members is None:
            if not self.shuffle:
                return None
            return torch.randperm(n, generator=self._generator, device=dev)
        # One call draws every member's permutation.
        keys = torch.rand(self.n_members, n, generator=self._generator, device=dev)
        perm = keys.argsort(dim=1)
        if self.member_rows is not None:
            perm = self.member_rows.gather(1, perm)
        return perm.T.contiguous()  # (n, n_members): batch-first

    def __iter__(self):
        order = self._order()
        n = self._n_rows()
        n_proc = self.num_processes
        if self._mixes_extra():
            yield from self._iter_with_extra(order, n)
            return
        if order is None and n_proc > 1:
            order = torch.arange(n, device=self._data_device)
        for start in range(0, n, self.batch_size):
            stop = min(start + self.batch_size, n)
            if order is None:
                X, y = self.dataset.X[start:stop], _slice(self.dataset.y, start, stop)
            else:
                rows = order[start:stop]
                if n_proc > 1:
                    if len(rows) < n_proc:  # pad: every process steps together
                        pad = torch.arange(n_proc, device=rows.device) % len(rows)
                        rows = rows[pad]
                    rows = rows[self.process_index :: n_proc]
                X, y = self._take(rows)
            yield self._batch(X, y)

    def _take(self, rows):
        """The dataset's ``X`` and targets at ``rows`` (pinned where they travel)."""
        if not self._pin:
            return self.dataset._take(rows)
        X, y = self.dataset.X, self.dataset.y
        if isinstance(y, tuple):
            return _gather(X, rows, True), tuple(_gather(t, rows, True) for t in y)
        return _gather(X, rows, True), None if y is None else _gather(y, rows, True)

    def _batch(self, X, y):
        return (
            _to(X, self.device, self.dtype, self._pin),
            _to(y, self.device, pin=self._pin),
        )

    def _iter_with_extra(self, order, n):
        extra = self._extra_order()
        per_row = len(extra) / n
        n_proc = self.num_processes
        for start in range(0, n, self.batch_size):
            stop = min(start + self.batch_size, n)
            rows = torch.cat(
                (
                    order[start:stop],
                    extra[round(start * per_row) : round(stop * per_row)],
                )
            )
            if n_proc > 1:
                if len(rows) < n_proc:
                    rows = rows[torch.arange(n_proc, device=rows.device) % len(rows)]
                rows = rows[self.process_index :: n_proc]
            X, y = self._take(rows)
            yield self._batch(X, y)


def _slice(y, start, stop):
    if y is None:
        return None
    if isinstance(y, tuple):
        return tuple(t[start:stop] for t in y)
    return y[start:stop]
