import { describe, expect, it } from 'vitest';
import { subjectFrom } from '../../src/core/subject.ts';
import { cutText, wellFormed } from '../../src/core/text.ts';

describe("cutting people's text", () => {
  it('never leaves half an emoji at the end', () => {
    const text = `${'a'.repeat(119)}😀😀`;
    expect(cutText(text, 120)).toBe('a'.repeat(119));
    expect(cutText(text, 121)).toBe(`${'a'.repeat(119)}😀`);
    expect(cutText('short', 120)).toBe('short');
  });
  it('replaces lone halves, and leaves whole characters alone', () => {
    expect(wellFormed('a\ud83db')).toBe('a\uFFFDb');
    expect(wellFormed('a\udc00')).toBe('a\uFFFD');
    expect(wellFormed('Привет 😀 ok')).toBe('Привет 😀 ok');
  });
  it('makes subjects from first lines without splitting an emoji', () => {
    const subject = subjectFrom(undefined, `${'a'.repeat(119)}😀😀😀`);
    expect(subject).toBe(`${'a'.repeat(119)}…`);
    expect(subjectFrom(`${'b'.repeat(299)}😀`, '')).toBe('b'.repeat(299));
  });
});
