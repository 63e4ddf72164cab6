/**
 * k8s/: every object valid against the Kubernetes v1.36 schemas (ScaledObject against the
 * KEDA v2.19 CRD), strictly (unknown fields are errors), all of it reachable from
 * kustomization.yaml — and the operational invariants: hardened pods, probes on the real
 * endpoints, autoscalers that own their replica counts, KEDA bounded by the partitions and
 * pointed at the same Kafka/topic/group as the workers, a grace period longer than the drain.
 */
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  containerEnv,
  type Doc,
  K8S_DIR,
  type K8sObject,
  readK8sObjects,
  readKustomizationResources,
  validateK8sObject,
} from '../helpers/deploy.ts';
import { versions } from '../schemas/vendor/k8s/index.js';

const objects = readK8sObjects();
const all = objects.map((o) => o.object);
const find = (kind: string, name: string) => {
  const hit = all.find((o) => o.kind === kind && o.metadata.name === name);
  if (!hit) throw new Error(`k8s/ has no ${kind} ${name}`);
  return hit;
};
const server = find('Deployment', 'mcp-server');
const worker = find('Deployment', 'kafka-worker');
const specOf = (o: K8sObject): Doc => {
  if (!o.spec) throw new Error(`${o.kind} ${o.metadata.name} has no spec`);
  return o.spec;
};
const podSpec = (d: K8sObject) => (specOf(d).template as Doc).spec as Doc;
const podLabels = (d: K8sObject) =>
  ((specOf(d).template as Doc).metadata as Doc).labels as Record<string, string>;
const container = (d: K8sObject) => (podSpec(d).containers as Doc[])[0] as Doc;

describe(`k8s/ against Kubernetes ${versions.kubernetesVersion} and KEDA ${versions.kedaVersion} schemas`, () => {
  it.each(objects.map(({ file, object }) => [`${file}: ${object.kind} ${object.metadata.name}`, object]))(
    '%s is valid',
    (_name, object) => {
      expect(validateK8sObject(object)).toEqual([]);
    },
  );

  it('lists every manifest in kustomization.yaml, in a namespace-first order', () => {
    const files = readdirSync(K8S_DIR).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml');
    const resources = readKustomizationResources();
    expect([...resources].sort()).toEqual(files.sort());
    expect(resources[0]).toBe('namespace.yaml');
  });

  it('puts every namespaced object in the mcp-hybrid namespace', () => {
    for (const o of all) {
      if (o.kind === 'Namespace') expect(o.metadata.name).toBe('mcp-hybrid');
      else expect(o.metadata.namespace, `${o.kind} ${o.metadata.name}`).toBe('mcp-hybrid');
    }
  });

  it('the validation catches real mistakes (negative controls)', () => {
    const deployment = structuredClone(server);
    const c = container(deployment);
    c.readinesProbe = c.readinessProbe;
    (c.resources as { limits: Doc }).limits.cpu = 'one';
    (deployment.spec as Doc).replicas = '2';
    const errors = validateK8sObject(deployment).join('\n');
    expect(errors).toContain('/spec/template/spec/containers/0/readinesProbe is not a field');
    expect(errors).toContain('/spec/template/spec/containers/0/resources/limits/cpu');
    expect(errors).toContain('/spec/replicas type');

    const scaled = structuredClone(find('ScaledObject', 'kafka-worker'));
    (scaled.spec as Doc).maxReplicas = 12;
    (scaled.spec as Doc).minReplicaCount = 'two';
    const kedaErrors = validateK8sObject(scaled).join('\n');
    expect(kedaErrors).toContain('/spec/maxReplicas is not a field');
    expect(kedaErrors).toContain('/spec/minReplicaCount type');

    expect(validateK8sObject({ apiVersion: 'autoscaling/v2beta2', kind: 'HorizontalPodAutoscaler' })).toEqual(
      [expect.stringContaining('no vendored schema')],
    );
    // Free-form maps stay free: labels and ConfigMap data take any key.
    const labelled = structuredClone(server);
    labelled.metadata.labels = { ...labelled.metadata.labels, 'example.com/anything': 'x' };
    expect(validateK8sObject(labelled)).toEqual([]);
  });
});

describe('k8s/ workloads', () => {
  it.each([
    ['mcp-server', server],
    ['kafka-worker', worker],
  ])(
    '%s runs hardened: non-root, read-only root fs with /tmp, no escalation, no capabilities, seccomp',
    (_n, d) => {
      const pod = podSpec(d);
      expect(pod.securityContext).toMatchObject({
        runAsNonRoot: true,
        seccompProfile: { type: 'RuntimeDefault' },
      });
      expect((pod.securityContext as Doc).runAsUser).not.toBe(0);
      expect(pod.automountServiceAccountToken).toBe(false);
      const c = container(d);
      expect(c.securityContext).toMatchObject({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
      });
      const mounts = c.volumeMounts as Array<{ name: string; mountPath: string }>;
      const tmp = mounts.find((m) => m.mountPath === '/tmp');
      expect(tmp).toBeDefined();
      const volume = (pod.volumes as Doc[]).find((v) => v.name === tmp?.name);
      expect(volume?.emptyDir).toBeDefined();
      expect(c.image).toMatch(/:[\w.-]+$/);
      expect(c.image).not.toMatch(/:latest$/);
    },
  );

  it('the server admits the server_initialize sandbox and nothing broader; secrets arrive as files', () => {
    const pod = podSpec(server);
    // A pod user namespace: required for an unmasked /proc, and container uids stay unprivileged on the host.
    expect(pod.hostUsers).toBe(false);
    const c = container(server);
    expect(c.securityContext).toMatchObject({
      seccompProfile: { type: 'Unconfined' },
      appArmorProfile: { type: 'Unconfined' },
      procMount: 'Unmasked',
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    expect((c.securityContext as Doc).privileged).toBeUndefined();
    expect(((c.securityContext as Doc).capabilities as Doc).add).toBeUndefined();
    // The worker spawns nothing: it keeps the runtime's default seccomp and AppArmor.
    expect((container(worker).securityContext as Doc).seccompProfile).toBeUndefined();
    expect(podSpec(worker).hostUsers).toBeUndefined();

    for (const [d, files] of [
      [server, ['MCP_AUTH_TOKEN', 'DATABASE_URL']],
      [worker, ['MCP_AUTH_TOKEN']],
    ] as const) {
      const env = containerEnv(d, all);
      for (const name of files) {
        expect(env.names).not.toContain(name);
        expect(env.values[`${name}_FILE`]).toBe(`/var/run/secrets/mcp-hybrid/${name}`);
      }
      const mount = (container(d).volumeMounts as Doc[]).find(
        (m) => m.mountPath === '/var/run/secrets/mcp-hybrid',
      );
      expect(mount?.readOnly).toBe(true);
      const volume = (podSpec(d).volumes as Doc[]).find((v) => v.name === mount?.name);
      expect((volume?.secret as Doc | undefined)?.secretName).toBe('mcp-hybrid-secrets');
    }
  });

  it('the server config turns the sandbox on with a closed network and paths inside /app only', () => {
    const env = containerEnv(server, all).values;
    expect(env.MCP_INIT_SANDBOX).toBe('bwrap');
    expect(env.MCP_INIT_NETWORK).toBe('none');
    for (const path of (env.MCP_INIT_SANDBOX_PATHS ?? '').split(','))
      expect(path).toMatch(/^\/app\/(dist|node_modules|package\.json)$/);
  });

  it.each([
    ['mcp-server', server, 'PORT'],
    ['kafka-worker', worker, 'METRICS_PORT'],
  ])('%s probes /ready (readiness) and /health (liveness) on the port it listens on', (_n, d, portVar) => {
    const c = container(d);
    const env = containerEnv(d, all);
    const port = (c.ports as Array<{ name: string; containerPort: number }>)[0];
    expect(port?.containerPort).toBe(Number(env.values[portVar]));
    const probe = (name: string) => (c[name] as { httpGet: { path: string; port: string | number } }).httpGet;
    expect(probe('readinessProbe')).toEqual({ path: '/ready', port: port?.name });
    expect(probe('livenessProbe')).toEqual({ path: '/health', port: port?.name });
    const resources = c.resources as { requests: Doc; limits: Doc };
    expect(Object.keys(resources.requests).sort()).toEqual(['cpu', 'memory']);
    expect(Object.keys(resources.limits).sort()).toEqual(['cpu', 'memory']);
  });

  it('the server scales on CPU from at least 2 replicas, and the HPA owns the replica count', () => {
    const hpa = find('HorizontalPodAutoscaler', 'mcp-server');
    const spec = hpa.spec as Doc;
    expect(spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'mcp-server' });
    expect(spec.minReplicas).toBeGreaterThanOrEqual(2);
    expect(spec.maxReplicas).toBeGreaterThan(spec.minReplicas as number);
    expect((spec.metrics as Doc[])[0]).toMatchObject({ type: 'Resource', resource: { name: 'cpu' } });
    expect(server.spec?.replicas).toBeUndefined();
    expect(containerEnv(server, all).values.MCP_STATELESS).toBe('true');
  });

  it('the Service selects the server pods on their http port', () => {
    const svc = find('Service', 'mcp-server');
    const spec = svc.spec as {
      selector: Record<string, string>;
      ports: Array<{ port: number; targetPort: string }>;
    };
    expect(podLabels(server)).toMatchObject(spec.selector);
    expect(spec.ports[0]?.targetPort).toBe('http');
    const env = containerEnv(worker, all).values;
    const url = new URL(env.MCP_SERVER_URL ?? '');
    expect(url.hostname.split('.')[0]).toBe('mcp-server');
    expect(Number(url.port)).toBe(spec.ports[0]?.port);
    expect((containerEnv(server, all).values.MCP_ALLOWED_HOSTS ?? '').split(',')).toContain(url.hostname);
  });

  it('the worker is given longer to stop than its worst drain time', () => {
    const grace = podSpec(worker).terminationGracePeriodSeconds as number;
    const drainMs = Number(containerEnv(worker, all).values.WORKER_SHUTDOWN_TIMEOUT_MS);
    expect(grace * 1000).toBeGreaterThanOrEqual(drainMs + 10_000);
  });

  it('KEDA scales the workers on the lag of their own group and topic, bounded by the partitions', () => {
    const scaled = find('ScaledObject', 'kafka-worker');
    const spec = scaled.spec as Doc;
    expect(spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: 'kafka-worker' });
    const trigger = (spec.triggers as Doc[])[0] as { type: string; metadata: Record<string, string> };
    expect(trigger.type).toBe('kafka');
    const env = containerEnv(worker, all).values;
    expect(trigger.metadata.bootstrapServers).toBe(env.KAFKA_BROKERS);
    expect(trigger.metadata.topic).toBe(env.KAFKA_TOPIC);
    expect(trigger.metadata.consumerGroup).toBe(env.MCP_CONSUMER_GROUP);
    expect(Number(trigger.metadata.lagThreshold)).toBeGreaterThan(0);
    expect(trigger.metadata.offsetResetPolicy).toBe('earliest');
    const min = spec.minReplicaCount as number;
    const max = spec.maxReplicaCount as number;
    expect(min).toBeGreaterThanOrEqual(1);
    expect(max).toBeGreaterThanOrEqual(min);
    expect(max).toBeLessThanOrEqual(Number(env.KAFKA_TOPIC_PARTITIONS));
    expect(worker.spec?.replicas).toBeUndefined();
  });

  it('PodDisruptionBudgets cover both workloads', () => {
    for (const d of [server, worker]) {
      const pdb = find('PodDisruptionBudget', d.metadata.name);
      const spec = pdb.spec as { selector: { matchLabels: Record<string, string> } };
      expect(podLabels(d)).toMatchObject(spec.selector.matchLabels);
      expect((specOf(d).selector as { matchLabels: Record<string, string> }).matchLabels).toEqual(
        spec.selector.matchLabels,
      );
    }
    expect((find('PodDisruptionBudget', 'mcp-server').spec as Doc).minAvailable).toBeGreaterThanOrEqual(1);
  });

  it('keeps secrets in the Secret, with example values that say so', () => {
    const secret = find('Secret', 'mcp-hybrid-secrets');
    for (const value of Object.values(secret.stringData ?? {})) expect(value).toContain('EXAMPLE-ONLY');
    // README: `kubectl apply -k k8s/ -l 'mcp-hybrid.dev/example-values!=true'` skips exactly it.
    const skipped = all.filter((o) => o.metadata.labels?.['mcp-hybrid.dev/example-values'] === 'true');
    expect(skipped).toEqual([secret]);
    for (const cm of all.filter((o) => o.kind === 'ConfigMap')) {
      expect(Object.keys(cm.data ?? {})).not.toContain('MCP_AUTH_TOKEN');
      expect(Object.keys(cm.data ?? {})).not.toContain('DATABASE_URL');
    }
  });
});
