// Files as the readers see them, wherever they come from: a ByteSource is one file's bytes read
// at offsets (a file on disk in Node, a File a user dropped on the web page, bytes in memory), a
// FileSet a folder of them (a model directory, or the files dropped together). The readers
// (safetensors, checkpoints, tokenizers, adapters) take these; the Node path-taking functions are
// thin wrappers over engine/io/node_files.ts.

export interface ByteSource {
  /** the file's name, as messages start with it: 'model.safetensors' */
  readonly name: string;
  /** where it is, as messages end with it: a path, or the name a dropped file had */
  readonly path: string;
  readonly size: number;
  /** `length` bytes from `offset` (a fresh array of its own; throws past the end) */
  read(offset: number, length: number): Uint8Array<ArrayBuffer>;
}

/** A folder of named files. */
export interface FileSet {
  /** the folder, for messages */
  readonly path: string;
  /** the file names, sorted */
  names(): string[];
  has(name: string): boolean;
  /** a file of the folder; throws when there is none of that name */
  open(name: string): ByteSource;
  /** how messages name one of its files (a path in the folder) */
  pathOf(name: string): string;
}

/** Named sources as a FileSet (the files a user dropped, or files in memory). */
export function sourceSet(path: string, files: readonly ByteSource[]): FileSet {
  const byName = new Map(files.map((f) => [f.name, f]));
  return {
    path,
    names: () => [...byName.keys()].sort(),
    has: (name) => byName.has(name),
    open(name) {
      const f = byName.get(name);
      if (!f) throw new Error(`${name}: not among the files of ${path}`);
      return f;
    },
    pathOf: (name) => byName.get(name)?.path ?? `${path}/${name}`,
  };
}

/** The whole file. */
export function readAll(src: ByteSource): Uint8Array<ArrayBuffer> {
  return src.read(0, src.size);
}

/** The file as UTF-8 text. */
export function readText(src: ByteSource): string {
  return new TextDecoder().decode(readAll(src));
}

/** The last part of a path (what node:path's basename gives, without Node: the readers run in browsers too). */
export function baseName(path: string): string {
  const trimmed = path.replace(/[/\\]+$/, '');
  return trimmed.slice(Math.max(trimmed.lastIndexOf('/'), trimmed.lastIndexOf('\\')) + 1);
}
