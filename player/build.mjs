// Builds the pages into dist/: one bundle per page (JS + CSS, no inline
// script, so the pages run under a strict Content-Security-Policy) and the
// HTML shells from pages/. `--tests` bundles test/*.test.ts into dist-test/
// for `node --test` instead. `--watch` rebuilds on change.
import * as esbuild from 'esbuild';
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const here = new URL('.', import.meta.url).pathname;
const args = new Set(process.argv.slice(2));
const dist = join(here, 'dist');

// A page is a folder of src/pages with its entry: main.tsx (a Preact page) or
// main.ts (a plain one). Its bundle is assets/<folder>.js (+ .css if any).
const pages = Object.fromEntries(
  readdirSync(join(here, 'src/pages'), { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => {
      const entry = ['main.tsx', 'main.ts'].map((f) => join(here, 'src/pages', d.name, f)).find((f) => existsSync(f));
      if (!entry) throw new Error(`src/pages/${d.name} has neither main.tsx nor main.ts`);
      return [d.name, entry];
    }),
);

const common = {
  bundle: true,
  format: 'esm',
  target: ['chrome110', 'firefox115', 'safari16'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  sourcemap: true,
  logLevel: 'warning',
  loader: { '.svg': 'file', '.woff2': 'file' },
};

const pageBuild = {
  ...common,
  entryPoints: pages,
  outdir: join(dist, 'assets'),
  minify: !args.has('--dev'),
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  assetNames: 'media/[name]-[hash]',
};

if (args.has('--tests')) {
  // handled below
} else if (args.has('--watch')) {
  const ctx = await esbuild.context(pageBuild);
  await ctx.watch();
  console.log('watching player/src …');
} else {
  rmSync(dist, { recursive: true, force: true });
  mkdirSync(join(dist, 'assets'), { recursive: true });
  cpSync(join(here, 'pages'), dist, { recursive: true });
  await esbuild.build(pageBuild);
}

if (args.has('--tests')) {
  const testDir = join(here, 'test');
  const tests = readdirSync(testDir).filter((f) => f.endsWith('.test.ts') || f.endsWith('.test.tsx'));
  rmSync(join(here, 'dist-test'), { recursive: true, force: true });
  await esbuild.build({
    ...common,
    entryPoints: tests.map((t) => join(testDir, t)),
    outdir: join(here, 'dist-test'),
    platform: 'node',
    target: 'node18',
    outExtension: { '.js': '.mjs' },
    splitting: false,
    sourcemap: 'inline',
  });
}
