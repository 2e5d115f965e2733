// The wallboard asks for its figures every few seconds and writes them in place.
(() => {
  const body = document.body;
  const source = body.dataset.source;
  const every = Number(body.dataset.every || 5) * 1000;
  const updated = document.getElementById('updated');
  const wait = (s) => `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
  const share = (x) => (x === null || x === undefined ? '–' : `${Math.round(x * 100)}%`);
  const formats = { wait, share };
  const read = (data, key) => key.split('.').reduce((v, k) => (v == null ? v : v[k]), data);
  let last = new Date();

  const show = (data) => {
    for (const el of document.querySelectorAll('[data-key]')) {
      const value = read(data, el.dataset.key);
      el.textContent = (formats[el.dataset.format] || String)(value);
    }
    document.getElementById('waiting').closest('.wall-tile').classList.toggle('alert', data.waiting > 0);
    for (const q of data.queues) {
      const row = document.querySelector(`#wall-queues tr[data-queue="${CSS.escape(q.queue)}"]`);
      if (!row) continue;
      row.querySelector('.waiting').textContent = q.waiting;
      row.querySelector('.longest').textContent = wait(q.longest_wait);
      row.classList.toggle('alert', q.waiting > 0);
    }
  };

  const refresh = async () => {
    try {
      const reply = await fetch(source, { headers: { Accept: 'application/json' }, cache: 'no-store' });
      if (reply.redirected || !reply.ok) throw new Error(String(reply.status));
      show(await reply.json());
      last = new Date();
      updated.textContent = '';
      updated.classList.remove('stale');
    } catch (e) {
      updated.textContent = updated.dataset.stale.replace('{time}', last.toLocaleTimeString());
      updated.classList.add('stale');
    }
  };
  setInterval(refresh, every);
})();
