/**
 * Dockerfile.server and Dockerfile.worker: clean under dockerfile-utils' linter (every rule at
 * error level), and built the way the design needs — multi-stage (dev dependencies to build,
 * production ones to run), a pinned Node 24 slim base, non-root, NODE_ENV=production, a
 * HEALTHCHECK done with node (slim images have no curl), an exec-form ENTRYPOINT so SIGTERM
 * reaches the process, and a .dockerignore that keeps local state out of the build context.
 * The server image also carries what the server_initialize sandbox runs (sandbox-host.ts),
 * checked at build time, and bwrap without the setuid bit.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ValidationSeverity, validate } from 'dockerfile-utils';
import { describe, expect, it } from 'vitest';
import { PROBE_COMMAND, SANDBOX_TOOLS } from '../../src/server/initialize/sandbox-host.ts';
import { REPO } from '../helpers/deploy.ts';

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

/** Instructions of a Dockerfile: continuation lines joined, comments and blank lines dropped. */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending: { text: string; line: number } | undefined;
  text.split('\n').forEach((raw, i) => {
    const trimmed = raw.trim();
    if (pending === undefined && (trimmed === '' || trimmed.startsWith('#'))) return;
    if (pending !== undefined && trimmed.startsWith('#')) return;
    const continued = trimmed.endsWith('\\');
    const piece = continued ? trimmed.slice(0, -1) : trimmed;
    pending = pending
      ? { text: `${pending.text} ${piece}`, line: pending.line }
      : { text: piece, line: i + 1 };
    if (!continued) {
      const [keyword = '', ...rest] = pending.text.split(/\s+/);
      out.push({ keyword: keyword.toUpperCase(), args: rest.join(' ').trim(), line: pending.line });
      pending = undefined;
    }
  });
  return out;
}

/** Instructions per stage (each FROM starts one). */
function stages(instructions: Instruction[]): Instruction[][] {
  const out: Instruction[][] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') out.push([ins]);
    else out.at(-1)?.push(ins);
  }
  return out;
}

const ALL_RULES_AS_ERRORS = {
  deprecatedMaintainer: ValidationSeverity.ERROR,
  directiveCasing: ValidationSeverity.ERROR,
  emptyContinuationLine: ValidationSeverity.ERROR,
  instructionCasing: ValidationSeverity.ERROR,
  instructionCmdMultiple: ValidationSeverity.ERROR,
  instructionEntrypointMultiple: ValidationSeverity.ERROR,
  instructionHealthcheckMultiple: ValidationSeverity.ERROR,
  instructionJSONInSingleQuotes: ValidationSeverity.ERROR,
  instructionWorkdirRelative: ValidationSeverity.ERROR,
};

function lintDockerfile(text: string): string[] {
  return validate(text, ALL_RULES_AS_ERRORS).map((d) => `line ${d.range.start.line + 1}: ${d.message}`);
}

/** Problems with the image recipe itself ([] when it follows the rules above). */
function dockerfilePolicyProblems(text: string, entry: string, port: number): string[] {
  const problems: string[] = [];
  const all = parseDockerfile(text);
  const byStage = stages(all);
  const final = byStage.at(-1) ?? [];
  const nvmrc = readFileSync(resolve(REPO, '.nvmrc'), 'utf8').trim();
  if (byStage.length < 2) problems.push('not multi-stage');
  for (const [from] of byStage) {
    const image = from?.args.split(/\s+/)[0] ?? '';
    if (!new RegExp(`^node:${nvmrc}\\.\\d+\\.\\d+-[a-z]+-slim(@sha256:[0-9a-f]{64})?$`).test(image)) {
      problems.push(`base image '${image}' is not node:${nvmrc}.x.y-<debian>-slim pinned by version`);
    }
  }
  const runs = (stage: Instruction[]) =>
    stage
      .filter((i) => i.keyword === 'RUN')
      .map((i) => i.args)
      .join('\n');
  if (!byStage.some((s) => /npm ci(?![^\n]*--omit=dev)/.test(runs(s)) && /npm run build/.test(runs(s)))) {
    problems.push('no build stage running `npm ci` (with dev dependencies) and `npm run build`');
  }
  if (!byStage.some((s) => /npm ci [^\n]*--omit=dev/.test(runs(s)))) {
    problems.push('no stage installing production dependencies with `npm ci --omit=dev`');
  }
  if (/npm (ci|install)/.test(runs(final)) && !/--omit=dev/.test(runs(final))) {
    problems.push('final stage installs dev dependencies');
  }
  const copiesFrom = final.filter((i) => i.keyword === 'COPY' && i.args.includes('--from='));
  if (!copiesFrom.some((i) => /\bdist\b/.test(i.args)))
    problems.push('final stage does not copy dist/ from a build stage');
  if (!copiesFrom.some((i) => /\bnode_modules\b/.test(i.args))) {
    problems.push('final stage does not copy production node_modules from a stage');
  }
  const user = final.filter((i) => i.keyword === 'USER').at(-1)?.args;
  if (!user || /^(root|0)(:|$)/.test(user)) problems.push(`final stage runs as '${user ?? 'root'}'`);
  const env = final
    .filter((i) => i.keyword === 'ENV')
    .map((i) => i.args)
    .join(' ');
  if (!/\bNODE_ENV=production\b/.test(env)) problems.push('final stage lacks ENV NODE_ENV=production');
  const health = final.find((i) => i.keyword === 'HEALTHCHECK')?.args ?? '';
  if (!/CMD \["node", "-e", .*fetch\(.*\/(ready|health)/.test(health)) {
    problems.push('no HEALTHCHECK using node -e fetch(…/ready|/health)');
  }
  if (!health.includes(String(port))) problems.push(`HEALTHCHECK does not probe port ${port}`);
  const entrypoint = final.find((i) => i.keyword === 'ENTRYPOINT')?.args ?? '';
  let argv: unknown;
  try {
    argv = JSON.parse(entrypoint);
  } catch {
    problems.push(`ENTRYPOINT is not exec form (JSON array): ${entrypoint}`);
  }
  if (Array.isArray(argv)) {
    const nodeAt = argv.indexOf('node');
    if (nodeAt === -1 || argv[nodeAt + 1] !== entry) problems.push(`ENTRYPOINT does not run node ${entry}`);
    if (nodeAt > 0 && !(argv[0] === '/usr/bin/tini' && argv[1] === '--')) {
      problems.push('ENTRYPOINT puts something other than tini before node');
    }
  }
  if (final.some((i) => i.keyword === 'CMD' && !i.args.startsWith('['))) problems.push('CMD in shell form');
  const exposed = final.filter((i) => i.keyword === 'EXPOSE').map((i) => i.args);
  if (!exposed.includes(String(port))) problems.push(`does not EXPOSE ${port}`);
  return problems;
}

const images = [
  { file: 'Dockerfile.server', entry: 'dist/bin/mcp-server.js', port: 8080 },
  { file: 'Dockerfile.worker', entry: 'dist/bin/kafka-worker.js', port: 9464 },
];

describe.each(images)('$file', ({ file, entry, port }) => {
  const text = readFileSync(resolve(REPO, file), 'utf8');

  it('passes the Dockerfile linter (dockerfile-utils, every rule an error)', () => {
    expect(lintDockerfile(text)).toEqual([]);
  });

  it('is multi-stage, pinned, non-root, production, health-checked, exec-form', () => {
    expect(dockerfilePolicyProblems(text, entry, port)).toEqual([]);
  });
});

describe('Dockerfile checks catch real mistakes (negative controls)', () => {
  const server = readFileSync(resolve(REPO, 'Dockerfile.server'), 'utf8');

  it('the linter flags broken instructions', () => {
    const broken = `${server}\nHEALTHCHECK CMD\nworkdir app\n`;
    const errors = lintDockerfile(broken).join('\n');
    expect(errors).toMatch(/Missing command after HEALTHCHECK CMD/);
    expect(errors).toMatch(/uppercase/i);
  });

  it('the policy flags a root, shell-form, unpinned, dev-dependency image', () => {
    const broken = server
      .replaceAll('node:24.21.0-bookworm-slim', 'node:24-slim')
      .replace('USER 1000:1000', 'USER root')
      .replace(/ENTRYPOINT \[.*\]/, 'ENTRYPOINT node dist/bin/mcp-server.js')
      .replace('npm ci --omit=dev', 'npm ci')
      .replace('NODE_ENV=production', 'NODE_ENV=development');
    const problems = dockerfilePolicyProblems(broken, 'dist/bin/mcp-server.js', 8080).join('\n');
    expect(problems).toContain("base image 'node:24-slim'");
    expect(problems).toContain("runs as 'root'");
    expect(problems).toContain('not exec form');
    expect(problems).toContain('--omit=dev');
    expect(problems).toContain('NODE_ENV=production');
  });
});

/**
 * The Debian package of each program the sandbox runs, and whether it is Essential (always in a
 * Debian base image) or must be installed. A new entry in SANDBOX_TOOLS fails the test until it
 * is added here — and to the image.
 */
const SANDBOX_PACKAGES: Record<string, { debian: string; essential: boolean }> = {
  bwrap: { debian: 'bubblewrap', essential: false },
  prlimit: { debian: 'util-linux', essential: true },
  true: { debian: 'coreutils', essential: true },
};

/** What keeps the server image from running the sandbox ([] when it carries all of it). */
function sandboxImageProblems(text: string): string[] {
  const problems: string[] = [];
  const final = stages(parseDockerfile(text)).at(-1) ?? [];
  const runs = final.filter((i) => i.keyword === 'RUN').map((i) => i.args);
  const installed = runs
    .flatMap((run) => [...run.matchAll(/apt-get install ([^&;|]*)/g)].map((m) => m[1] ?? ''))
    .flatMap((args) => args.split(/\s+/))
    .filter((word) => word !== '' && !word.startsWith('-'));
  const programs = [...SANDBOX_TOOLS.map((tool) => `/usr/bin/${tool}`), PROBE_COMMAND];
  for (const program of programs) {
    const name = program.split('/').at(-1) ?? program;
    const pkg = SANDBOX_PACKAGES[name];
    if (!pkg) {
      problems.push(`no known Debian package for the sandbox's '${name}' (add it to SANDBOX_PACKAGES)`);
      continue;
    }
    if (!pkg.essential) {
      const pinned = installed.find((word) => word.split('=')[0] === pkg.debian);
      if (!pinned) problems.push(`final stage does not apt-get install ${pkg.debian} (for ${name})`);
      else if (!/^[^=]+=\S+$/.test(pinned)) problems.push(`${pkg.debian} is not pinned to a version`);
    }
    // Built-time proof that the program is there, at the path the server runs it by.
    const checked = runs.some(
      (run) =>
        run.includes(`${program} --version`) ||
        run.includes(`test -x ${program}`) ||
        (program === `/usr/bin/${name}` && run.includes(`${name} --version`)),
    );
    if (!checked) problems.push(`final stage does not check at build time that ${program} runs`);
  }
  if (!runs.some((run) => run.includes('test ! -u /usr/bin/bwrap'))) {
    problems.push('final stage does not check that bwrap is not setuid');
  }
  if (runs.some((run) => /chmod\s+(u\+s|[0-7]*[4-7][0-7]{3}\b)[^&;|]*bwrap/.test(run))) {
    problems.push('final stage makes bwrap setuid');
  }
  return problems;
}

describe('Dockerfile.server carries what the server_initialize sandbox needs', () => {
  const server = readFileSync(resolve(REPO, 'Dockerfile.server'), 'utf8');

  it('installs bubblewrap (pinned) and checks bwrap, prlimit and true at build time; bwrap stays non-setuid', () => {
    expect(SANDBOX_TOOLS).toEqual(['bwrap', 'prlimit']);
    expect(sandboxImageProblems(server)).toEqual([]);
  });

  it('flags an image without bubblewrap, without the build-time checks, or with a setuid bwrap', () => {
    const withoutBwrap = server.replace(/ bubblewrap=\S+/, '');
    expect(sandboxImageProblems(withoutBwrap)).toContain(
      'final stage does not apt-get install bubblewrap (for bwrap)',
    );
    const unpinned = server.replace(/bubblewrap=\S+/, 'bubblewrap');
    expect(sandboxImageProblems(unpinned)).toContain('bubblewrap is not pinned to a version');
    const unchecked = server.replace(/ \\\n\s+&& \/usr\/bin\/prlimit --version/, '');
    expect(unchecked).not.toBe(server);
    expect(sandboxImageProblems(unchecked)).toContain(
      'final stage does not check at build time that /usr/bin/prlimit runs',
    );
    const setuid = server.replace('USER 1000:1000', 'RUN chmod u+s /usr/bin/bwrap\nUSER 1000:1000');
    expect(sandboxImageProblems(setuid)).toContain('final stage makes bwrap setuid');
    // Installed only in a build stage: not in the image that runs.
    const buildOnly = withoutBwrap.replace(
      'RUN npm run build',
      'RUN npm run build && apt-get install -y bubblewrap=1',
    );
    expect(sandboxImageProblems(buildOnly)).toContain(
      'final stage does not apt-get install bubblewrap (for bwrap)',
    );
  });
});

describe('.dockerignore', () => {
  it('keeps local state out of the build context and lets the build inputs in', () => {
    const lines = readFileSync(resolve(REPO, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    // An allowlist: everything excluded, then only the build inputs re-included.
    expect(lines[0]).toBe('*');
    const included = lines.filter((l) => l.startsWith('!')).map((l) => l.slice(1).replace(/\/$/, ''));
    expect(included.sort()).toEqual(
      ['examples', 'package-lock.json', 'package.json', 'src', 'tsconfig.build.json', 'tsconfig.json'].sort(),
    );
    for (const file of ['Dockerfile.server', 'Dockerfile.worker']) {
      const copied = parseDockerfile(readFileSync(resolve(REPO, file), 'utf8'))
        .filter((i) => i.keyword === 'COPY' && !i.args.includes('--from='))
        .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
      for (const source of copied) expect(included, `${file} copies ${source}`).toContain(source);
    }
  });
});
