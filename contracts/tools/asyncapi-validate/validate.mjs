#!/usr/bin/env node
// Validate an AsyncAPI document with the official @asyncapi/parser, offline.
//
// Usage: node validate.mjs <path-to-asyncapi.yaml>
//
// Prints one line per diagnostic:
//   <severity>\t<json-path>\t<file>:<line>:<col>\t<message> [<code>]
// followed by a summary line:
//   asyncapi: <E> errors, <W> warnings
//
// Exit status: 0 = no error diagnostics (warnings/info/hints do not fail),
//              1 = at least one error diagnostic,
//              2 = usage / I/O problem (file missing, etc.).
//
// Offline guarantee: the parser resolves $refs with file/http/https readers.
// Local (relative / file) refs are resolved relative to the document's own path.
// Any http(s) $ref is intercepted *before* the parser's HTTP reader runs and is
// reported as an error; additionally http/https/fetch are stubbed out for the
// whole process so nothing can reach the network even by accident.

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import http from 'node:http';
import https from 'node:https';
import { Parser, DiagnosticSeverity } from '@asyncapi/parser';

// ---------------------------------------------------------------------------
// Network guard (defence in depth).
const blockedRequests = [];
function networkBlocked(what) {
  return function blocked(target) {
    const where = typeof target === 'string' ? target : (target && (target.href || target.hostname || target.host)) || '?';
    blockedRequests.push(`${what} ${where}`);
    throw new Error(`asyncapi-validate: network access is disabled (${what} ${where})`);
  };
}
http.request = networkBlocked('http.request');
http.get = networkBlocked('http.get');
https.request = networkBlocked('https.request');
https.get = networkBlocked('https.get');
globalThis.fetch = async (input) => networkBlocked('fetch')(String(input && input.url ? input.url : input));

// ---------------------------------------------------------------------------
// Remote $ref interception. Custom resolvers with a lower `order` run before the
// built-in http(s) readers; returning a string stops the chain, so the built-in
// node-fetch reader is never called. We substitute an empty object and report
// an error ourselves.
const remoteRefs = [];
const refusingReader = (schema) => ({
  schema,
  order: 1,
  canRead: true,
  read: (uri) => {
    remoteRefs.push(uri.href ? uri.href() : String(uri));
    return '{}';
  },
});

const SEVERITY_NAMES = {
  [DiagnosticSeverity.Error]: 'error',
  [DiagnosticSeverity.Warning]: 'warning',
  [DiagnosticSeverity.Information]: 'info',
  [DiagnosticSeverity.Hint]: 'hint',
};

function formatPath(p) {
  if (!Array.isArray(p) || p.length === 0) return '$';
  return '$' + p.map((seg) => {
    const s = String(seg);
    if (typeof seg === 'number' || /^\d+$/.test(s)) return `[${s}]`;
    if (/^[A-Za-z_$][\w$-]*$/.test(s)) return `.${s}`;
    return `[${JSON.stringify(s)}]`;
  }).join('');
}

function formatLocation(d, fallbackFile) {
  const file = d.source || fallbackFile;
  if (d.range && d.range.start) {
    return `${file}:${d.range.start.line + 1}:${d.range.start.character + 1}`;
  }
  return file;
}

async function main(argv) {
  if (argv.length !== 1 || argv[0] === '-h' || argv[0] === '--help') {
    process.stderr.write('usage: node validate.mjs <path-to-asyncapi.yaml>\n');
    return 2;
  }
  const docPath = path.resolve(argv[0]);
  let text;
  try {
    text = await readFile(docPath, 'utf8');
  } catch (err) {
    process.stderr.write(`asyncapi-validate: cannot read ${docPath}: ${err.message}\n`);
    return 2;
  }

  const parser = new Parser({
    __unstable: {
      resolver: {
        cache: false,
        resolvers: [refusingReader('http'), refusingReader('https')],
      },
    },
  });

  // parse() runs the full validation (same diagnostics as validate()) and then
  // the parser's custom operations (traits, schema parsing), so it is the
  // strictest check. `source` makes relative $refs resolve next to the file.
  const { document, diagnostics } = await parser.parse(text, { source: docPath });

  const all = [...diagnostics];
  for (const uri of remoteRefs) {
    all.push({
      severity: DiagnosticSeverity.Error,
      code: 'offline-remote-ref',
      path: [],
      message: `remote $ref not allowed (validation runs offline): ${uri}`,
      source: docPath,
    });
  }
  for (const req of blockedRequests) {
    all.push({
      severity: DiagnosticSeverity.Error,
      code: 'offline-network-blocked',
      path: [],
      message: `blocked network access attempt: ${req}`,
      source: docPath,
    });
  }

  let errors = 0;
  let warnings = 0;
  for (const d of all) {
    const sev = SEVERITY_NAMES[d.severity] ?? `severity${d.severity}`;
    if (d.severity === DiagnosticSeverity.Error) errors += 1;
    else if (d.severity === DiagnosticSeverity.Warning) warnings += 1;
    const code = d.code !== undefined ? ` [${d.code}]` : '';
    const message = String(d.message).replace(/\s+/g, ' ').trim();
    process.stdout.write(`${sev}\t${formatPath(d.path)}\t${formatLocation(d, docPath)}\t${message}${code}\n`);
  }
  if (errors === 0 && document === undefined) {
    // Should not happen, but never report success without a parsed document.
    errors += 1;
    process.stdout.write(`error\t$\t${docPath}\tparser returned no document [no-document]\n`);
  }
  process.stdout.write(`asyncapi: ${errors} errors, ${warnings} warnings\n`);
  return errors > 0 ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => {
    process.stderr.write(`asyncapi-validate: unexpected failure: ${err && err.stack ? err.stack : err}\n`);
    process.stdout.write('asyncapi: 1 errors, 0 warnings\n');
    process.exitCode = 1;
  },
);
