/** Byte values the RESP decoders compare against. */
export const ASCII = {
  TAB: 0x09,
  LF: 0x0a,
  VT: 0x0b,
  FF: 0x0c,
  CR: 0x0d,
  SPACE: 0x20,
  DQUOTE: 0x22,
  DOLLAR: 0x24,
  SQUOTE: 0x27,
  STAR: 0x2a,
  MINUS: 0x2d,
  ZERO: 0x30,
  NINE: 0x39,
} as const;
