"""Every file or folder a dnanet command writes goes through `Output`: one set of rules for all.

- `--out` must name a regular file or a folder (or a path that does not exist yet): a symbolic
  link, device node, FIFO or socket is refused, so nothing outside the user's own files is ever
  replaced.
- An existing output is refused unless the command was given `--overwrite`.
- `claim` checks all of this, and that the folder is writable and has some free space, *before*
  the long work starts; it also takes a lock (``.NAME.lock`` beside the output, `fcntl.flock`,
  non-blocking), so a second process writing the same output fails at once.
- `writing` yields a hidden temporary beside the output (``.NAME.PID-XXXX.partial``); only when
  the block succeeds is it renamed into place. A file replaces the old one in one atomic rename;
  a folder is swapped in as rename old aside, rename new in, delete old, so a kill at any moment
  leaves either the old output or the new one (a run killed mid-swap leaves the old one aside,
  and the next claim puts it back).
- Hidden temporaries carry the pid of the process that made them: the next claim on the same
  output removes those whose process is gone (`kill -9`, out of memory) and names the others.
- Disk-full and permission errors while writing name the user's path, not the temporary.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import shutil
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from dnanet.errors import DnanetError

MIN_FREE_BYTES = 16 << 20  # refuse to start when the output's file system has less than this free
_UMASK = os.umask(0)
os.umask(_UMASK)
_OUTPUT_ERRNOS = {
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EFBIG,
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
    errno.EIO,
}
_KINDS = [
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
]


def temporary_prefix(path: Path) -> str:
    """``.NAME.PID-``: the start of every hidden temporary made for `path` by this process."""
    return f".{path.name}.{os.getpid()}-"


def check_output_kind(path: Path, folder: bool) -> None:
    """Refuse `path` unless it is missing, or a regular file (`folder` False) / a folder (True)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as error:
        raise DnanetError(f"{path}: cannot be checked as an output ({error.strerror})") from None
    for test, kind in _KINDS:
        if test(mode):
            raise DnanetError(
                f"{path}: is {kind}; --out must be a regular {'folder' if folder else 'file'} path"
            )
    if stat.S_ISDIR(mode) != folder:
        raise DnanetError(
            f"{path}: exists and is not a directory"
            if folder
            else f"{path}: is a directory, expected a file name"
        )


class Output:
    """One output path of a command (a file, or a folder with `folder`), written under the rules
    above."""

    def __init__(self, path: Path, overwrite: bool = False, folder: bool = False):
        self.path, self.overwrite, self.folder = Path(path), overwrite, folder
        self.notes: list[str] = []  # what `claim` cleaned up or left, for the command to print
        self._lock: int | None = None
        self._made_parents: list[Path] = []
        self.written = False

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(f".{self.path.name}.lock")

    def claim(self, min_free: int = MIN_FREE_BYTES) -> "Output":
        """Check the path, lock it, clean stale temporaries, check writability and free space."""
        check_output_kind(self.path, self.folder)
        parent = self.path.absolute().parent
        if parent.exists() and not parent.is_dir():
            raise DnanetError(f"{self.path}: {parent} is not a folder")
        self._made_parents = [p for p in parent.parents if not p.exists()][::-1] + (
            [] if parent.exists() else [parent]
        )
        try:
            parent.mkdir(parents=True, exist_ok=True)
            if not os.access(parent, os.W_OK | os.X_OK):
                raise PermissionError(errno.EACCES, "permission denied", str(parent))
            self._take_lock()
        except OSError as error:
            self.release()
            where = parent if error.filename in (None, str(self.lock_path)) else error.filename
            reason = (error.strerror or str(error)).lower()
            raise DnanetError(f"{self.path}: cannot write in {where} ({reason})") from None
        except BaseException:
            self.release()
            raise
        try:
            self._clean_stale()
            check_output_kind(self.path, self.folder)
            if os.path.lexists(self.path) and not self.overwrite:
                raise DnanetError(
                    f"{self.path}: already exists; choose another --out or pass --overwrite"
                )
            self._check_free(parent, min_free)
        except BaseException:
            self.release()
            raise
        return self

    def release(self) -> None:
        """Drop the lock (removing its file) and the parent folders `claim` made if nothing went in
        them."""
        if self._lock is not None:
            try:
                os.unlink(self.lock_path)
            except OSError:
                pass
            os.close(self._lock)
            self._lock = None
        for folder in reversed(self._made_parents):
            try:
                folder.rmdir()  # only when empty
            except OSError:
                break
        self._made_parents = []

    @contextmanager
    def writing(self) -> Iterator[Path]:
        """Yield a hidden temporary (a file path, or an empty folder); on success it becomes the
        output, on any error or interruption it and its side files (same name, other suffix) are
        removed."""
        parent = self.path.absolute().parent
        try:
            if self.folder:
                temporary = Path(
                    tempfile.mkdtemp(
                        prefix=temporary_prefix(self.path), suffix=".partial", dir=parent
                    )
                )
            else:
                handle, name = tempfile.mkstemp(
                    prefix=temporary_prefix(self.path), suffix=".partial", dir=parent
                )
                os.close(handle)
                temporary = Path(name)
        except OSError as error:
            raise self._user_error(error, None) from None
        try:
            yield temporary
            _normal_permissions(temporary)
            self._swap_in(temporary)
            self.written = True
            self._made_parents = []
        except OSError as error:
            raise self._user_error(error, temporary) from None
        finally:
            for leftover in parent.glob(f"{glob_escape(temporary.stem)}.*"):
                _remove(leftover)

    def scratch_folder(self) -> Path:
        """A hidden working folder beside the output (``.NAME.PID-XXXX.scratch``), for large
        intermediate files; the caller removes it, and a killed run's is cleaned by the next
        claim."""
        return Path(
            tempfile.mkdtemp(
                prefix=temporary_prefix(self.path),
                suffix=".scratch",
                dir=self.path.absolute().parent,
            )
        )

    def _take_lock(self) -> None:
        """flock ``.NAME.lock``, non-blocking; retried when the file was replaced between open and
        lock."""
        while True:
            descriptor = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o666 & ~_UMASK)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(descriptor, 32).decode("ascii", "replace").strip()
                os.close(descriptor)
                raise DnanetError(
                    f"{self.path}: another dnanet process{f' (pid {holder})' if holder else ''} is "
                    f"writing it right now; wait for it to finish or choose another --out"
                ) from None
            try:
                same = os.fstat(descriptor).st_ino == os.stat(self.lock_path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                os.ftruncate(descriptor, 0)
                os.write(descriptor, str(os.getpid()).encode())
                self._lock = descriptor
                return
            os.close(descriptor)  # the holder removed it as we opened it: lock the new one

    def _clean_stale(self) -> None:
        """Temporaries of this output left by processes that no longer run: remove them (a folder
        set aside mid-swap is put back when the output is missing); name those of live processes."""
        pattern = re.compile(rf"\.{re.escape(self.path.name)}\.(\d+)-\w+\.(\w+)")
        parent = self.path.absolute().parent
        for entry in sorted(parent.iterdir(), key=lambda p: not p.name.endswith(".old")):
            match = pattern.fullmatch(entry.name)
            if not match or int(match[1]) == os.getpid():
                continue
            if process_alive(int(match[1])):
                self.notes.append(
                    f"{entry}: left in place: process {match[1]}, which made it, is still running"
                )
            elif match[2] == "old" and not os.path.lexists(self.path):
                os.rename(entry, self.path)
                self.notes.append(
                    f"{self.path}: put back from {entry.name} (a run was killed while replacing it)"
                )
            else:
                _remove(entry)
                self.notes.append(
                    f"{entry}: removed (left by process {match[1]}, which is no longer running)"
                )

    def _check_free(self, parent: Path, min_free: int) -> None:
        free = shutil.disk_usage(parent).free
        if free < min_free:
            raise DnanetError(
                f"{self.path}: only {free / 1e6:.1f} MB free on its file system; at least "
                f"{min_free / 1e6:.0f} MB needed to start"
            )

    def _swap_in(self, temporary: Path) -> None:
        check_output_kind(
            self.path, self.folder
        )  # nothing may have become a link or device meanwhile
        exists = os.path.lexists(self.path)
        if exists and not self.overwrite:
            raise DnanetError(
                f"{self.path}: appeared while this command ran; nothing was written (pass "
                "--overwrite to replace it)"
            )
        if not self.folder or not exists:
            os.replace(
                temporary, self.path
            )  # a file: atomic, the old one is there until the new one is
            return
        aside = temporary.with_suffix(".old")
        os.rename(self.path, aside)
        try:
            os.rename(temporary, self.path)
        except BaseException:
            os.rename(aside, self.path)
            raise
        _remove(aside)

    def _user_error(self, error: OSError, temporary: Path | None) -> Exception:
        """An OSError met while writing: about the user's path when it concerns the output."""
        name = str(error.filename)
        ours = (
            error.filename is not None
            and temporary is not None
            and (
                name.startswith(str(temporary)) or os.path.basename(name).startswith(temporary.stem)
            )
        )
        if not ours and (error.filename is not None or error.errno not in _OUTPUT_ERRNOS):
            return error  # an input's problem, reported as it is
        kept = " (the old one is kept)" if os.path.lexists(self.path) else ""
        return DnanetError(
            f"{self.path}: could not be written: {error.strerror or error}; nothing was "
            f"written{kept}"
        )


@contextmanager
def write_atomically(path: Path, overwrite: bool = True, folder: bool = False) -> Iterator[Path]:
    """Claim, write and release one output in a block, for files a command makes beside its
    claimed outputs (report figures, one PNG per variant): yields the temporary
    (`Output.writing`)."""
    output = Output(path, overwrite, folder).claim()
    try:
        with output.writing() as temporary:
            yield temporary
    finally:
        output.release()


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def process_alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie, killed but not yet reaped, counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def _normal_permissions(path: Path) -> None:
    """mkdtemp/mkstemp make private entries: give the tree the umask's usual permissions."""
    if path.is_file():
        os.chmod(path, 0o666 & ~_UMASK)
        return
    os.chmod(path, 0o777 & ~_UMASK)
    for root, folders, files in os.walk(path):
        for name in folders:
            os.chmod(os.path.join(root, name), 0o777 & ~_UMASK)
        for name in files:
            os.chmod(os.path.join(root, name), 0o666 & ~_UMASK)


@contextmanager
def parent_folders(path: Path) -> Iterator[None]:
    """Create the missing parent folders of `path`; remove those again if the block fails."""
    missing = [p for p in path.absolute().parents if not p.exists()]
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield
    except BaseException:
        for folder in missing:  # innermost first
            if folder.exists() and not any(folder.iterdir()):
                folder.rmdir()
        raise


@contextmanager
def claimed(
    path: Path,
    overwrite: bool,
    folder: bool = False,
    min_free: int | None = None,
    reporter=None,
) -> Iterator[Output]:
    """An `Output` claimed for the block (checked, locked, stale temporaries cleaned) and released
    at its end, whatever happens. Claim before the long work, so a wrong or busy path fails at
    once; what the claim cleaned up goes to `reporter` (`dnanet.progress.Reporter`) as notes."""
    output = Output(path, overwrite, folder).claim(MIN_FREE_BYTES if min_free is None else min_free)
    try:
        if reporter is not None:
            for note in output.notes:
                reporter.note(note)
        yield output
    finally:
        output.release()
