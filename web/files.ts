// Dropped files as the engine's readers take them (engine/io/source.ts): a File read at offsets
// with FileReaderSync (dedicated workers have it), so a large checkpoint is read one tensor at a
// time and never whole. Runs in the engine worker.
import { sourceSet, type ByteSource, type FileSet } from '../engine/io/source.ts';
import type { DroppedFile } from './protocol.ts';

declare const FileReaderSync: { new(): { readAsArrayBuffer(blob: Blob): ArrayBuffer } };

export function droppedSource(d: DroppedFile): ByteSource {
  const reader = new FileReaderSync();
  const { file } = d;
  return {
    name: file.name, path: d.path, size: file.size,
    read(offset, length) {
      if (offset < 0 || offset + length > file.size) throw new Error(`${d.path}: read of ${length} bytes at ${offset} is past the end (${file.size} bytes)`);
      return new Uint8Array(reader.readAsArrayBuffer(file.slice(offset, offset + length)));
    },
  };
}

/**
 * The dropped files as one folder: by file name (a dropped folder's files, wherever they sat in
 * it; where two share a name, the one nearer the top wins). `path` names it in messages.
 */
export function droppedSet(files: readonly DroppedFile[]): FileSet {
  const depth = (p: string) => p.split('/').length;
  const byName = new Map<string, DroppedFile>();
  for (const f of [...files].sort((a, b) => depth(a.path) - depth(b.path) || a.path.localeCompare(b.path))) {
    if (!byName.has(f.file.name)) byName.set(f.file.name, f);
  }
  const top = files.length > 0 && files.every((f) => f.path.includes('/')) ? files[0].path.split('/')[0] : 'dropped files';
  return sourceSet(top, [...byName.values()].map(droppedSource));
}
