// Minimal protobuf wire-format reader: enough to walk SentencePiece's ModelProto.

export class ProtoReader {
  pos = 0;
  constructor(readonly buf: Uint8Array, private readonly what: string) {}
  get done(): boolean { return this.pos >= this.buf.length; }

  varint(): number {
    let result = 0, mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) throw new Error(`${this.what}: truncated varint at byte ${this.pos}`);
      const b = this.buf[this.pos++];
      result += (b & 0x7f) * mul;
      if (!(b & 0x80)) return result;
      mul *= 128;
    }
    throw new Error(`${this.what}: varint longer than 10 bytes at byte ${this.pos}`);
  }

  /** A varint holding an int32 (negative values take 10 bytes, two's complement). */
  int32(): number {
    let v = 0n, shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) throw new Error(`${this.what}: truncated varint at byte ${this.pos}`);
      const b = this.buf[this.pos++];
      v |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return Number(BigInt.asIntN(32, v));
      shift += 7n;
    }
    throw new Error(`${this.what}: varint longer than 10 bytes at byte ${this.pos}`);
  }

  /** Field number and wire type of the next field. */
  tag(): { field: number; wire: number } {
    const t = this.varint();
    return { field: Math.floor(t / 8), wire: t % 8 };
  }

  bytes(): Uint8Array {
    const n = this.varint();
    if (this.pos + n > this.buf.length) throw new Error(`${this.what}: length-delimited field of ${n} bytes runs past the end (byte ${this.pos})`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  float(): number {
    if (this.pos + 4 > this.buf.length) throw new Error(`${this.what}: truncated float at byte ${this.pos}`);
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 4).getFloat32(0, true);
    this.pos += 4;
    return v;
  }

  skip(wire: number): void {
    switch (wire) {
      case 0: this.varint(); return;
      case 1: this.pos += 8; break;
      case 2: this.bytes(); return;
      case 5: this.pos += 4; break;
      default: throw new Error(`${this.what}: unsupported wire type ${wire} at byte ${this.pos}`);
    }
    if (this.pos > this.buf.length) throw new Error(`${this.what}: truncated field`);
  }
}
