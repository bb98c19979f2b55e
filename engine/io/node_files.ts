// ByteSources and FileSets over the file system (Node): what the readers' path-taking wrappers
// open. A file is opened for each read, so a source needs no closing.
import { closeSync, existsSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { ByteSource, FileSet } from './source.ts';

/** The file at `path` (which must exist) as a ByteSource. */
export function fileSource(path: string): ByteSource {
  const size = statSync(path).size;
  return {
    name: basename(path), path, size,
    read(offset, length) {
      const out = new Uint8Array(length);
      const fd = openSync(path, 'r');
      try {
        let got = 0;
        while (got < length) {
          const n = readSync(fd, out, got, length - got, offset + got);
          if (n <= 0) throw new Error(`${basename(path)}: short read at byte ${offset + got} (${path})`);
          got += n;
        }
      } finally { closeSync(fd); }
      return out;
    },
  };
}

/** The directory at `path` as a FileSet (its regular files). */
export function dirFileSet(path: string): FileSet {
  return {
    path,
    names: () => readdirSync(path).filter((n) => { try { return statSync(join(path, n)).isFile(); } catch { return false; } }).sort(),
    has: (name) => existsSync(join(path, name)),
    open: (name) => fileSource(join(path, name)),
    pathOf: (name) => join(path, name),
  };
}
