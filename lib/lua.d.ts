/** Lua scripts are imported as text (esbuild `text` loader, and the same in vitest). */
declare module '*.lua' {
  const source: string;
  export default source;
}
