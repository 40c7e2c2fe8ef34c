// pg ships no types for its utilities module; these are the two functions used (see src/persistence/sql.ts).
declare module 'pg/lib/utils.js' {
  const utils: {
    prepareValue(value: unknown): string | Buffer | null;
    escapeLiteral(value: string): string;
  };
  export default utils;
}
