/**
 * Regenerates the schemas the deployment checks (test/unit/deploy-*.test.ts) validate
 * against, vendored under test/schemas/vendor/ so the checks run offline:
 *
 * - compose-spec/compose-spec.schema.json — the Compose Specification's JSON schema
 *   (draft-07), as shipped by the `dclint` package.
 * - k8s/ — validators for the Kubernetes kinds k8s/ uses, from `kubernetes-models` (OpenAPI of
 *   Kubernetes v1.36.0) and `@kubernetes-models/keda` (KEDA v2.19 CRDs). Those packages ship
 *   each OpenAPI definition precompiled by Ajv into a standalone validate function; only the
 *   closure of the kinds below is copied (about 180 small modules, not the whole API), with
 *   package imports rewritten to relative ones and a small formats module standing in for
 *   `@kubernetes-models/validate` (its int32/int64/double/date-time/byte/quantity formats).
 *
 * Run from the repository root after changing a version or a kind, then commit the result:
 *
 *   node scripts/vendor-deploy-schemas.ts
 *
 * Needs the npm registry (npm pack) and tar; nothing else. The output is deterministic.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const REPO = resolve(import.meta.dirname, '..');
const OUT = join(REPO, 'test/schemas/vendor');

/** Pinned sources. Bump a version here, run the script, review the diff. */
export const SOURCES = {
  kubernetesVersion: '1.36.0',
  kedaVersion: '2.19',
  packages: {
    'kubernetes-models': '5.1.0',
    '@kubernetes-models/apimachinery': '3.0.2',
    '@kubernetes-models/keda': '2.0.0',
    dclint: '3.1.0',
  },
} as const;

/** apiVersion/kind → the package and definition holding its validator. */
const KINDS: Record<string, { pkg: keyof typeof SOURCES.packages; definition: string }> = {
  'v1/Namespace': { pkg: 'kubernetes-models', definition: 'IoK8sApiCoreV1Namespace' },
  'v1/ConfigMap': { pkg: 'kubernetes-models', definition: 'IoK8sApiCoreV1ConfigMap' },
  'v1/Secret': { pkg: 'kubernetes-models', definition: 'IoK8sApiCoreV1Secret' },
  'v1/Service': { pkg: 'kubernetes-models', definition: 'IoK8sApiCoreV1Service' },
  'apps/v1/Deployment': { pkg: 'kubernetes-models', definition: 'IoK8sApiAppsV1Deployment' },
  'autoscaling/v2/HorizontalPodAutoscaler': {
    pkg: 'kubernetes-models',
    definition: 'IoK8sApiAutoscalingV2HorizontalPodAutoscaler',
  },
  'policy/v1/PodDisruptionBudget': {
    pkg: 'kubernetes-models',
    definition: 'IoK8sApiPolicyV1PodDisruptionBudget',
  },
  'keda.sh/v1alpha1/ScaledObject': {
    pkg: '@kubernetes-models/keda',
    definition: 'ComGithubKedacoreKedaV2ApisKedaV1alpha1ScaledObject',
  },
};

function npmPack(work: string, name: string, version: string): string {
  const out = execFileSync('npm', ['pack', `${name}@${version}`, '--pack-destination', work, '--json'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [info] = JSON.parse(out) as Array<{ filename: string }>;
  if (!info) throw new Error(`npm pack ${name}@${version} reported nothing`);
  const dir = join(work, name.replace(/[@/]/g, '_'));
  mkdirSync(dir, { recursive: true });
  execFileSync('tar', ['-xzf', join(work, info.filename.replace(/^@/, '').replace(/\//g, '-')), '-C', dir]);
  return join(dir, 'package');
}

const IMPORT = /from"([^"]+)"/g;

function main() {
  const work = mkdtempSync(join(tmpdir(), 'vendor-deploy-schemas-'));
  try {
    const roots = Object.fromEntries(
      Object.entries(SOURCES.packages).map(([name, version]) => [name, npmPack(work, name, version)]),
    ) as Record<keyof typeof SOURCES.packages, string>;

    // Compose Specification schema.
    const composeOut = join(OUT, 'compose-spec');
    rmSync(composeOut, { recursive: true, force: true });
    mkdirSync(composeOut, { recursive: true });
    cpSync(join(roots.dclint, 'schemas/compose.schema.json'), join(composeOut, 'compose-spec.schema.json'));

    // Kubernetes + KEDA validators: the import closure of each kind's definition, flattened.
    const k8sOut = join(OUT, 'k8s');
    rmSync(k8sOut, { recursive: true, force: true });
    mkdirSync(k8sOut, { recursive: true });
    const schemaDir = (pkg: string) => join(roots[pkg as keyof typeof roots], '_schemas');
    const copied = new Set<string>();
    const copy = (pkg: string, definition: string) => {
      if (copied.has(definition)) return;
      copied.add(definition);
      const source = readFileSync(join(schemaDir(pkg), `${definition}.js`), 'utf8');
      const deps: Array<[string, string]> = [];
      const rewritten = source.replace(IMPORT, (_m, spec: string) => {
        if (spec === '@kubernetes-models/validate') return 'from"./formats.js"';
        const local = /^\.\/(\w+)\.js$/.exec(spec);
        const external = /^(@kubernetes-models\/[\w-]+|kubernetes-models)\/_schemas\/(\w+)$/.exec(spec);
        if (local?.[1]) deps.push([pkg, local[1]]);
        else if (external?.[1] && external[2]) deps.push([external[1], external[2]]);
        else throw new Error(`unexpected import '${spec}' in ${pkg}/${definition}`);
        return `from"./${(local?.[1] ?? external?.[2]) as string}.js"`;
      });
      writeFileSync(join(k8sOut, `${definition}.js`), rewritten);
      for (const [depPkg, depDefinition] of deps) copy(depPkg, depDefinition);
    };
    for (const { pkg, definition } of Object.values(KINDS)) copy(pkg, definition);

    writeFileSync(join(k8sOut, 'formats.js'), FORMATS_MODULE);
    const kinds = Object.entries(KINDS);
    writeFileSync(
      join(k8sOut, 'index.js'),
      [
        '// Generated by scripts/vendor-deploy-schemas.ts — do not edit.',
        ...kinds.map(([, { definition }], i) => `import { validate as v${i} } from './${definition}.js';`),
        '/** apiVersion/kind → Ajv standalone validate function (errors on `.errors`). */',
        'export const validators = {',
        ...kinds.map(([kind], i) => `  '${kind}': v${i},`),
        '};',
        `export const versions = ${JSON.stringify(SOURCES)};`,
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(k8sOut, 'index.d.ts'),
      [
        '// Generated by scripts/vendor-deploy-schemas.ts — do not edit.',
        'export interface ValidationError { instancePath: string; schemaPath: string; keyword: string; params: Record<string, unknown>; message?: string }',
        'export type ValidateFunction = ((data: unknown) => boolean) & { errors?: ValidationError[] | null };',
        'export declare const validators: Record<string, ValidateFunction>;',
        `export declare const versions: ${JSON.stringify(SOURCES)};`,
        '',
      ].join('\n'),
    );

    const digest = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
    writeFileSync(
      join(OUT, 'SOURCES.json'),
      `${JSON.stringify(
        {
          generatedBy: 'scripts/vendor-deploy-schemas.ts',
          ...SOURCES,
          composeSchemaSha256: digest(join(composeOut, 'compose-spec.schema.json')),
          k8sModules: copied.size,
          kinds: Object.keys(KINDS),
        },
        null,
        2,
      )}\n`,
    );
    console.log(`compose-spec schema and ${copied.size} Kubernetes/KEDA validator modules written to ${OUT}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * The formats the vendored validators reference, as @kubernetes-models/validate defines them:
 * Ajv's full formats for the numeric and date ones, plus Kubernetes' `byte` (base64) and
 * `quantity` (resource.Quantity) patterns.
 */
const FORMATS_MODULE = `// Generated by scripts/vendor-deploy-schemas.ts — do not edit.
// Stand-in for @kubernetes-models/validate's \`formats\` (the subset the vendored validators use).
import { fullFormats } from 'ajv-formats/dist/formats.js';

const rBase64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const rSignedNumber = /[+-]?(?:\\d+|\\d+\\.\\d+|\\d+\\.|\\.\\d+)/;
const rBinarySI = /[KMGTPE]i/;
const rDecimalSI = /(?:[YZEPTGMkhdcmunpfazy]|da)/;
const rDecimalExponent = new RegExp(\`[eE]\${rSignedNumber.source}\`);
const rQuantitySuffix = new RegExp(\`(?:\${rBinarySI.source}|\${rDecimalSI.source}|\${rDecimalExponent.source})?\`);
const rQuantity = new RegExp(\`^\${rSignedNumber.source}\${rQuantitySuffix.source}$\`);

export const formats = {
  int32: fullFormats.int32,
  int64: fullFormats.int64,
  double: fullFormats.double,
  'date-time': fullFormats['date-time'],
  byte: { type: 'string', validate: (value) => rBase64.test(value) },
  quantity: { type: 'string', validate: rQuantity },
};
`;

if (import.meta.main) main();
