import './style.css';
import { api, errorMessage } from './api';
import { formatDateTime } from './time';

// The shape of GET /health is owned by the API; only `status` is relied on
// here and everything else is shown as-is for diagnostics.
interface HealthResponse {
  status?: string;
  [key: string]: unknown;
}

type HealthState =
  | { kind: 'loading' }
  | { kind: 'ok'; body: HealthResponse; checkedAt: string }
  | { kind: 'degraded'; body: HealthResponse; checkedAt: string }
  | { kind: 'error'; message: string; checkedAt: string };

const OK_STATUSES = new Set(['ok', 'up', 'healthy', 'pass']);

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: { className?: string; text?: string } = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (props.className) node.className = props.className;
  if (props.text !== undefined) node.textContent = props.text;
  for (const child of children) node.append(child);
  return node;
}

function renderHealth(container: HTMLElement, state: HealthState): void {
  const label =
    state.kind === 'loading'
      ? '正在检查服务状态…'
      : state.kind === 'ok'
        ? '服务运行正常'
        : state.kind === 'degraded'
          ? '服务部分异常'
          : '无法连接服务';

  const rows: HTMLElement[] = [el('div', { className: `status status--${state.kind}` }, el('span', { className: 'dot' }), label)];

  if (state.kind === 'error') {
    rows.push(el('p', { className: 'detail', text: state.message }));
  }
  if (state.kind === 'ok' || state.kind === 'degraded') {
    const pre = el('pre', { className: 'raw', text: JSON.stringify(state.body, null, 2) });
    rows.push(el('details', {}, el('summary', { text: '详细信息' }), pre));
  }
  if (state.kind !== 'loading') {
    rows.push(el('p', { className: 'meta', text: `检查时间：${formatDateTime(state.checkedAt)}（北京时间）` }));
  }

  container.replaceChildren(...rows);
}

async function checkHealth(container: HTMLElement, button: HTMLButtonElement): Promise<void> {
  button.disabled = true;
  renderHealth(container, { kind: 'loading' });
  try {
    const body = await api.get<HealthResponse>('/health', { timeoutMs: 8_000 });
    const checkedAt = new Date().toISOString();
    const status = typeof body?.status === 'string' ? body.status.toLowerCase() : 'ok';
    renderHealth(container, {
      kind: OK_STATUSES.has(status) ? 'ok' : 'degraded',
      body: body ?? {},
      checkedAt,
    });
  } catch (err) {
    renderHealth(container, { kind: 'error', message: errorMessage(err), checkedAt: new Date().toISOString() });
  } finally {
    button.disabled = false;
  }
}

function mount(root: HTMLElement): void {
  const healthBody = el('div', { className: 'card__body' });
  const refresh = el('button', { className: 'btn', text: '重新检查' });
  refresh.type = 'button';
  refresh.addEventListener('click', () => void checkHealth(healthBody, refresh));

  const header = el(
    'header',
    { className: 'topbar' },
    el('h1', { className: 'title', text: 'HireLedger 招聘存证' }),
    el('p', { className: 'subtitle', text: '招聘最后一公里的可验证记录' }),
  );

  const healthCard = el(
    'section',
    { className: 'card' },
    el('h2', { className: 'card__title', text: '服务状态' }),
    healthBody,
    refresh,
  );

  const placeholder = el(
    'section',
    { className: 'card card--muted' },
    el('h2', { className: 'card__title', text: '功能' }),
    el('p', { className: 'detail', text: '候选人、Offer 与存证记录页面即将上线。' }),
  );

  const footer = el('footer', { className: 'footer', text: `时区：Asia/Shanghai · ${import.meta.env.MODE}` });

  root.replaceChildren(header, el('main', { className: 'content' }, healthCard, placeholder), footer);
  void checkHealth(healthBody, refresh);
}

const root = document.getElementById('app');
if (root) mount(root);
