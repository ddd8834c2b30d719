#!/usr/bin/env node
// Compiles contracts/src/**/*.sol with solc-js (standard JSON) and writes one artifact per
// deployable contract: <outDir>/<ContractName>.json = {abi, bytecode, contractName, sourceHash}.
//
//   node contracts/compile.mjs [outDir]        (default: resources/contracts)
//
// The compiler and OpenZeppelin come from tools/npm/node_modules (installed by the Makefile's
// bootstrap). Output is deterministic: sorted keys, 2-space indent, trailing newline, so a
// rebuild is byte-identical and `git diff` shows real drift only.
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const NODE_MODULES = path.join(ROOT, 'tools', 'npm', 'node_modules');
const SRC = path.join(ROOT, 'contracts', 'src');

/** Compiler settings; part of the source hash. Change them here only. */
const SETTINGS = {
  evmVersion: 'prague', // solc 0.8.37 defaults to osaka, newer than py-evm runs
  optimizer: { enabled: true, runs: 200 },
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
};

function fail(message) {
  process.stderr.write(`compile.mjs: ${message}\n`);
  process.exit(1);
}

function loadSolc() {
  const require = createRequire(path.join(NODE_MODULES, 'noop.js'));
  try {
    return require('solc');
  } catch (err) {
    fail(`solc is not installed in ${NODE_MODULES} (run \`make test\` or scripts/bootstrap.sh): ${err.message}`);
  }
}

/** Every .sol file under contracts/src, as source unit names relative to the repo root. */
function listSources(dir) {
  const found = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...listSources(full));
    else if (entry.name.endsWith('.sol')) found.push(path.relative(ROOT, full).split(path.sep).join('/'));
  }
  return found.sort();
}

/** Resolves imports the sources did not provide: packages under tools/npm/node_modules. */
function findImports(unitName) {
  const candidates = [path.join(NODE_MODULES, unitName), path.join(ROOT, unitName)];
  for (const candidate of candidates) {
    if (fs.existsSync(candidate)) return { contents: fs.readFileSync(candidate, 'utf8') };
  }
  return { error: `import not found: ${unitName}` };
}

/** JSON with keys sorted at every level. */
function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sortKeys(value[k])]));
  }
  return value;
}

function main() {
  const outDir = path.resolve(process.argv[2] ?? path.join(ROOT, 'resources', 'contracts'));
  const solc = loadSolc();
  const sourceNames = listSources(SRC);
  if (sourceNames.length === 0) fail(`no .sol files under ${SRC}`);
  const sources = Object.fromEntries(
    sourceNames.map((name) => [name, { content: fs.readFileSync(path.join(ROOT, name), 'utf8') }]),
  );
  const input = { language: 'Solidity', sources, settings: SETTINGS };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));

  const errors = (output.errors ?? []).filter((e) => e.severity === 'error');
  for (const diag of output.errors ?? []) process.stderr.write(`${diag.formattedMessage}\n`);
  if (errors.length > 0) fail(`${errors.length} compiler error(s)`);

  // Everything the compiler read (our sources and the imported OpenZeppelin files): the hash
  // changes with any of them, with the compiler version and with the settings.
  const usedSources = Object.keys(output.sources ?? {}).sort();
  const hash = createHash('sha256');
  hash.update(`solc ${solc.version()}\n`);
  hash.update(`${JSON.stringify(sortKeys(SETTINGS))}\n`);
  for (const name of usedSources) {
    const content = sources[name]?.content ?? findImports(name).contents;
    hash.update(`${name}\n${content.length}\n${content}\n`);
  }
  const sourceHash = `0x${hash.digest('hex')}`;

  const artifacts = new Map();
  for (const unit of sourceNames) {
    for (const [name, compiled] of Object.entries(output.contracts?.[unit] ?? {})) {
      const bytecode = compiled.evm?.bytecode?.object ?? '';
      if (bytecode.length === 0) continue; // interfaces and abstract contracts
      if (unit.split('/').length !== 3) continue; // deployables live directly in contracts/src
      if (artifacts.has(name)) fail(`two deployable contracts are named ${name}`);
      artifacts.set(name, { abi: compiled.abi, bytecode: `0x${bytecode}`, contractName: name, sourceHash });
    }
  }

  fs.mkdirSync(outDir, { recursive: true });
  // Drop artifacts of contracts that no longer exist (other JSON files there are left alone).
  for (const file of fs.readdirSync(outDir)) {
    if (!file.endsWith('.json') || artifacts.has(file.slice(0, -5))) continue;
    try {
      const old = JSON.parse(fs.readFileSync(path.join(outDir, file), 'utf8'));
      if (old && typeof old === 'object' && 'contractName' in old && 'sourceHash' in old) {
        fs.unlinkSync(path.join(outDir, file));
      }
    } catch {
      // not an artifact of ours
    }
  }
  for (const [name, artifact] of [...artifacts.entries()].sort()) {
    const text = `${JSON.stringify(sortKeys(artifact), null, 2)}\n`;
    fs.writeFileSync(path.join(outDir, `${name}.json`), text);
  }
  process.stdout.write(
    `compiled ${artifacts.size} contracts with solc ${solc.version()} -> ${path.relative(process.cwd(), outDir) || '.'}\n`,
  );
}

main();
