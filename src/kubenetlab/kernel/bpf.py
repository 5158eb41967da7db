"""bpf(2) from Python: just what the lab's eBPF programs need, over ctypes.

No maintained Python binding covers map batches and attachment without BCC, so this is
the small wrapper FACTS.md describes: `union bpf_attr` packed by hand with unused bytes
zeroed, `__NR_bpf` 321 (x86_64). Programs are loaded by bpftool (libbpf relocates CO-RE);
maps are filled here, many entries per system call, never one process per entry.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import platform
import struct
import subprocess
from collections.abc import Sequence
from pathlib import Path

from kubenetlab.errors import EnvironmentProblem, KnlError

ENOTSUPP = 524  # the kernel-internal "not supported" a map without batches returns
NR_BPF = {"x86_64": 321, "aarch64": 280}.get(platform.machine(), 321)

MAP_LOOKUP_ELEM = 1
MAP_UPDATE_ELEM = 2
MAP_DELETE_ELEM = 3
MAP_GET_NEXT_KEY = 4
PROG_ATTACH = 8
PROG_DETACH = 9
OBJ_GET = 7
MAP_DELETE_BATCH = 27
MAP_UPDATE_BATCH = 26

ATTACH = {  # enum bpf_attach_type
    "connect4": 10,
    "sendmsg4": 14,
    "recvmsg4": 19,
    "getpeername4": 29,
    "tcx_ingress": 46,
    "tcx_egress": 47,
}

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _bpf(cmd: int, attr: bytes) -> int:
    buf = ctypes.create_string_buffer(attr, 128)  # zero padded: unused fields must be 0
    rc = _libc.syscall(NR_BPF, cmd, buf, ctypes.c_uint(128))
    if rc < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return int(rc)


def obj_get(path: str | Path) -> int:
    """An fd for a pinned map or program."""
    name = ctypes.create_string_buffer(str(path).encode())
    return _bpf(OBJ_GET, struct.pack("=QII", ctypes.addressof(name), 0, 0))


def _ptr(buf: ctypes.Array[ctypes.c_char] | None) -> int:
    return ctypes.addressof(buf) if buf is not None else 0


class Map:
    """A pinned map, opened once; keys and values are bytes of the map's sizes."""

    def __init__(self, path: str | Path, key_size: int, value_size: int) -> None:
        self.path = str(path)
        self.key_size = key_size
        self.value_size = value_size
        self.fd = obj_get(path)

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> Map:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, items: Sequence[tuple[bytes, bytes]], batch: int = 8192) -> int:
        """Write all items; one system call per `batch` where the kernel has batches."""
        done = 0
        for start in range(0, len(items), batch):
            chunk = items[start : start + batch]
            keys = ctypes.create_string_buffer(b"".join(k for k, _ in chunk))
            values = ctypes.create_string_buffer(b"".join(v for _, v in chunk))
            try:
                done += self._batch(MAP_UPDATE_BATCH, keys, values, len(chunk))
            except OSError as e:
                if e.errno not in (errno.EINVAL, ENOTSUPP, errno.EOPNOTSUPP):
                    raise
                for key, value in chunk:  # a kernel or map type without batches
                    self.update_one(key, value)
                done += len(chunk)
        return done

    def delete(self, keys: Sequence[bytes], batch: int = 8192) -> int:
        done = 0
        for start in range(0, len(keys), batch):
            chunk = keys[start : start + batch]
            buf = ctypes.create_string_buffer(b"".join(chunk))
            try:
                done += self._batch(MAP_DELETE_BATCH, buf, None, len(chunk))
            except OSError as e:
                if e.errno not in (errno.EINVAL, ENOTSUPP, errno.EOPNOTSUPP, errno.ENOENT):
                    raise
                for key in chunk:
                    self.delete_one(key)
                done += len(chunk)
        return done

    def _batch(
        self,
        cmd: int,
        keys: ctypes.Array[ctypes.c_char],
        values: ctypes.Array[ctypes.c_char] | None,
        count: int,
    ) -> int:
        # in_batch, out_batch, keys, values, count, map_fd, elem_flags, flags
        attr = struct.pack("=QQQQIIQQ", 0, 0, _ptr(keys), _ptr(values), count, self.fd, 0, 0)
        buf = ctypes.create_string_buffer(attr, 128)
        rc = _libc.syscall(NR_BPF, cmd, buf, ctypes.c_uint(128))
        if rc < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        return int(struct.unpack_from("=I", buf.raw, 32)[0])  # count: how many were done

    def update_one(self, key: bytes, value: bytes) -> None:
        k, v = ctypes.create_string_buffer(key), ctypes.create_string_buffer(value)
        _bpf(MAP_UPDATE_ELEM, struct.pack("=IIQQQ", self.fd, 0, _ptr(k), _ptr(v), 0))

    def delete_one(self, key: bytes) -> None:
        k = ctypes.create_string_buffer(key)
        with contextlib.suppress(FileNotFoundError):  # already gone
            _bpf(MAP_DELETE_ELEM, struct.pack("=IIQ", self.fd, 0, _ptr(k)))

    def lookup(self, key: bytes, value_size: int | None = None) -> bytes | None:
        k = ctypes.create_string_buffer(key)
        v = ctypes.create_string_buffer(value_size or self.value_size)
        try:
            _bpf(MAP_LOOKUP_ELEM, struct.pack("=IIQQQ", self.fd, 0, _ptr(k), _ptr(v), 0))
        except FileNotFoundError:
            return None
        return v.raw

    def all_keys(self) -> list[bytes]:
        out: list[bytes] = []
        prev: ctypes.Array[ctypes.c_char] | None = None
        while True:
            nxt = ctypes.create_string_buffer(self.key_size)
            try:
                _bpf(MAP_GET_NEXT_KEY, struct.pack("=IIQQ", self.fd, 0, _ptr(prev), _ptr(nxt)))
            except FileNotFoundError:
                return out
            out.append(nxt.raw)
            prev = nxt


def prog_attach(target_fd: int, prog_fd: int, attach_type: str) -> None:
    """Attach a program to a cgroup (target_fd) or, for tcx, to an ifindex."""
    _bpf(PROG_ATTACH, struct.pack("=IIIII", target_fd, prog_fd, ATTACH[attach_type], 0, 0))


def prog_detach(target_fd: int, prog_fd: int, attach_type: str) -> None:
    _bpf(PROG_DETACH, struct.pack("=IIIII", target_fd, prog_fd, ATTACH[attach_type], 0, 0))


def load_all(obj: Path, pin_dir: Path) -> None:
    """Load every program of `obj` (libbpf relocates it against this kernel's BTF) and
    pin programs under pin_dir/progs, maps under pin_dir/maps."""
    result = subprocess.run(
        ["bpftool", "prog", "loadall", str(obj), str(pin_dir / "progs"),
         "pinmaps", str(pin_dir / "maps")],
        capture_output=True, text=True,
    )  # fmt: skip
    if result.returncode != 0:
        detail = [ln for ln in result.stderr.splitlines() if ln.startswith(("libbpf", "Error"))]
        raise KnlError(f"bpftool could not load {obj.name}: {'; '.join(detail[-3:])}")


def mount_bpffs(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "bpf", "bpf", str(path)], capture_output=True)
    if result.returncode != 0:
        raise EnvironmentProblem(
            f"cannot mount a bpf file system at {path}: {result.stderr.decode().strip()} "
            "(the kernel needs CONFIG_BPF_SYSCALL)"
        )


def unmount_bpffs(path: str | Path) -> bool:
    """Unmount a lab's bpffs (every pin in it goes) and remove the directory."""
    p = Path(path)
    if not p.exists():
        return False
    if os.path.ismount(p):
        subprocess.run(["umount", "-l", str(p)], capture_output=True)
    try:
        p.rmdir()
    except OSError:
        return False
    return True
