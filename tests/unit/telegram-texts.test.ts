import { describe, expect, it } from 'vitest';
import { botLocale, botText, escapeHtml, splitMessage } from '../../src/channels/telegram/texts.ts';

describe('telegram texts', () => {
  it('splits long text at paragraph, line or word ends, never over the limit, never inside an emoji', () => {
    const text = `${'word '.repeat(2000)}\n\n${'🙂'.repeat(3000)}`;
    const parts = splitMessage(text, 4096);
    expect(parts.length).toBeGreaterThan(2);
    for (const p of parts) {
      expect(p.length).toBeLessThanOrEqual(4096);
      expect(/^[\uDC00-\uDFFF]/.test(p)).toBe(false);
    }
    expect(parts.join('').replace(/\s/g, '')).toBe(text.replace(/\s/g, ''));
    expect(splitMessage('short')).toEqual(['short']);
  });
  it('escapes what HTML parse mode reads, and picks the language', () => {
    expect(escapeHtml('a <b> & c')).toBe('a &lt;b&gt; &amp; c');
    expect(botLocale('ru-RU')).toBe('ru');
    expect(botLocale('uk')).toBe('en');
    expect(botText('received', 'de', { number: 7 })).toContain('#7');
  });
});
