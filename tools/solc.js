#!/usr/bin/env node
// A native-solc-compatible command line over solc-js (the WebAssembly build from npm).
//
// Ape (through py-solc-x) and forge only ever call a compiler as
//   solc --version
//   solc [--base-path P] [--include-path P]... [--allow-paths P[,P]] --standard-json
// and expect what native solc does: the version banner, or the output JSON alone on stdout with
// exit status 0 even when the sources have errors (those are reported inside the JSON).
// solc-js's own `solcjs` binary differs in all three respects, hence this wrapper.
'use strict';

const fs = require('fs');
const path = require('path');
const solc = require('solc');

const USAGE = 'usage: solc --version | solc --standard-json [--base-path DIR] ' +
  '[--include-path DIR]... [--allow-paths DIR[,DIR]...]';

function parseArgs(argv) {
  const opts = { version: false, standardJson: false, basePath: null, includePaths: [], allowPaths: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`option ${arg} needs a value`);
      return argv[++i];
    };
    if (arg === '--version') opts.version = true;
    else if (arg === '--standard-json') opts.standardJson = true;
    else if (arg === '--base-path') opts.basePath = value();
    else if (arg === '--include-path') opts.includePaths.push(value());
    else if (arg === '--allow-paths') opts.allowPaths.push(...value().split(',').filter(Boolean));
    else throw new Error(`unsupported argument: ${arg}`);
  }
  return opts;
}

// Resolve an import the way native solc does with --base-path/--include-path: try each root in
// turn; reject anything that escapes every root and allowed path.
function makeImportResolver(opts) {
  const roots = [opts.basePath || process.cwd(), ...opts.includePaths].map((p) => path.resolve(p));
  const allowed = [...roots, ...opts.allowPaths.map((p) => path.resolve(p))];
  // A root of '/' must allow everything below it: do not append a second separator.
  const under = (dir) => (dir.endsWith(path.sep) ? dir : dir + path.sep);
  const isAllowed = (file) => allowed.some((dir) => file === dir || file.startsWith(under(dir)));
  return function findImport(importPath) {
    const candidates = path.isAbsolute(importPath) ? [importPath] : roots.map((r) => path.join(r, importPath));
    for (const candidate of candidates) {
      const file = path.resolve(candidate);
      if (!isAllowed(file)) continue;
      try {
        return { contents: fs.readFileSync(file, 'utf8') };
      } catch (err) {
        if (err.code !== 'ENOENT' && err.code !== 'EISDIR') return { error: `${importPath}: ${err.message}` };
      }
    }
    return { error: `File not found: ${importPath} (searched ${roots.join(', ')})` };
  };
}

function errorJson(message) {
  return JSON.stringify({
    errors: [{ component: 'general', severity: 'error', type: 'JSONError', message, formattedMessage: message }],
  });
}

function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${err.message}\n${USAGE}\n`);
    return 1;
  }
  if (opts.version) {
    process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
    return 0;
  }
  if (!opts.standardJson) {
    process.stderr.write(`${USAGE}\n`);
    return 1;
  }
  const input = fs.readFileSync(0, 'utf8');
  try {
    JSON.parse(input);
  } catch (err) {
    // Native solc answers invalid input with a JSONError inside the output, still exit 0.
    process.stdout.write(errorJson(`Input is not valid JSON: ${err.message}`) + '\n');
    return 0;
  }
  const output = solc.compile(input, { import: makeImportResolver(opts) });
  process.stdout.write(output + '\n');
  return 0;
}

process.exitCode = main();
