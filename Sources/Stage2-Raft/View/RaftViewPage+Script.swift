// The page's script: it reads the cluster's view from the serving member's event stream (and
// from another member's when that one goes), keeps the last twenty seconds for stepping back
// through, and draws members, messages, log tails and elections. In the lab, its buttons ask
// the lab to stop, kill or restart a member, and a member to cut itself off from the others.

extension RaftViewPage {
    static let script = #"""
        'use strict';
        const $ = id => document.getElementById(id);
        const esc = text => String(text ?? '').replace(/[&<>"']/g, c => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c]));
        const clock = ms => new Date(ms).toISOString().substring(11, 23);
        const frames = [];        // the views received, oldest first: about twenty seconds
        const keptFrames = 40;
        let shown = -1, paused = false, source = null;
        let endpoints = [location.origin];
        let labURL = null, labMembers = {};

        let lastHeard = Date.now();
        function connect() {
          const base = endpoints[0];
          lastHeard = Date.now();
          source = new EventSource(base + '/debug/raft/events');
          source.onopen = () => { $('connection').textContent = 'live from ' + base; };
          source.onmessage = event => { lastHeard = Date.now(); receive(JSON.parse(event.data)); };
          source.onerror = () => failOver(base);
        }
        // The member serving the stream went: killed (the stream breaks) or stopped (it just
        // goes quiet, hence the watchdog). Go on with the next member.
        function failOver(base) {
          if (source.url !== base + '/debug/raft/events' || source.readyState === EventSource.CLOSED) return;
          source.close();
          $('connection').textContent = 'lost ' + base + ', trying another member…';
          endpoints.push(endpoints.shift());
          setTimeout(connect, 500);
        }
        setInterval(() => { if (Date.now() - lastHeard > 2500) failOver(endpoints[0]); }, 500);

        function receive(view) {
          frames.push(view);
          if (frames.length > keptFrames) { frames.shift(); if (paused) shown = Math.max(0, shown - 1); }
          const urls = view.members.map(m => m.clientURL).filter(url => url);
          endpoints = [endpoints[0], ...urls.filter(url => url !== endpoints[0])];
          labURL = view.members.map(m => m.lab).find(url => url) || labURL;
          if (!paused) shown = frames.length - 1;
          render();
        }

        function setHTML(element, html) { if (element.innerHTML !== html) element.innerHTML = html; }
        const isDown = m => m.unreachable !== undefined && m.unreachable !== null;
        function lastTerm(m) {
          const last = m.log[m.log.length - 1];
          return last && last.index === m.lastIndex ? last.term : 0;
        }

        function render() {
          const view = frames[shown];
          if (!view) return;
          $('frame').max = frames.length - 1;
          $('frame').value = shown;
          $('pause').textContent = paused ? 'Paused' : 'Pause';
          $('moment').textContent = (paused ? 'showing ' : '') + clock(view.at) + ' UTC';
          $('served').textContent = 'gathered by ' + view.servedBy;
          $('lab').hidden = !labURL;
          renderMembers(view);
          renderNetwork(view);
          renderLogs(view);
          renderMessages(view);
          renderTimeline(view);
        }

        // One card per member, kept across frames, each part redrawn only when it changed: a
        // button under the pointer is not replaced because a number next to it moved.
        function card(name, position) {
          const box = $('members');
          let element = [...box.children].find(c => c.dataset.name === name);
          if (!element) {
            element = document.createElement('div');
            element.dataset.name = name;
            element.innerHTML = '<h3></h3><div></div><div class="controls"></div><div class="controls links"></div>';
          }
          if (box.children[position] !== element) box.insertBefore(element, box.children[position] || null);
          return element;
        }

        function renderMembers(view) {
          for (const old of [...$('members').children]) if (!view.members.some(m => m.name === old.dataset.name)) old.remove();
          view.members.forEach((m, position) => {
            const lab = labMembers[m.name];
            const down = isDown(m);
            const role = down ? (lab && lab.state !== 'running' ? lab.state : 'unreachable') : m.role;
            const element = card(m.name, position);
            element.className = 'member ' + (down ? 'unreachable' : m.role);
            Object.assign(element.dataset, {role, term: m.term, commit: m.commit, lastIndex: m.lastIndex, lastTerm: lastTerm(m)});
            const [title, body, controls, links] = element.children;
            setHTML(title, `${esc(m.name)} <span class="role">${esc(role)}</span>`);
            let html = '';
            if (down) {
              html += `<div class="error" title="${esc(m.unreachable)}">not answering the member serving this page</div>`;
            } else {
              const pairs = [['term', m.term], ['voted for', m.vote || '—'], ['leader', m.leader || 'none known'], ['commit', m.commit],
                             ['applied', m.applied], ['last index', m.lastIndex], ['snapshot', m.snapshotIndex]];
              html += '<div class="numbers">' + pairs.map(([k, v]) => `<span>${k}</span><span>${esc(v)}</span>`).join('') + '</div>';
              if (m.cutOff.length) html += `<div class="cut">cut off from ${esc(m.cutOff.join(', '))}</div>`;
              if (m.progress.length) {
                html += '<table class="progress"><tr><th>follower</th><th>match</th><th>next</th><th>state</th><th>in flight</th></tr>' +
                  m.progress.map(p => `<tr><td>${esc(p.name)}${p.learner ? ' (learner)' : ''}</td><td>${p.match}</td><td>${p.next}</td>` +
                    `<td>${esc(p.state)}</td><td>${p.inflight}</td></tr>`).join('') + '</table>';
              }
            }
            setHTML(body, html);
            if (!labURL) return;
            const state = lab ? lab.state : 'running';
            const button = (action, text) => `<button data-action="${action}" data-member="${esc(m.name)}">${text}</button>`;
            setHTML(controls,
              (state === 'stopped' ? button('continue', 'continue') : button('stop', 'stop')) +
              (state === 'killed' ? button('restart', 'restart') : button('kill', 'kill -9')) +
              (!down && m.cutOff.length ? button('heal', 'heal') : button('isolate', 'cut off')));
            // One link at a time: a partition of the lab's choosing, not only a member alone.
            setHTML(links, down ? '' : 'links: ' + view.members.filter(o => o.name !== m.name).map(o => {
              const cut = m.cutOff.includes(o.name);
              return `<button data-action="link" data-member="${esc(m.name)}" data-peer="${esc(o.name)}" title="${cut ? 'reconnect' : 'cut'}` +
                ` ${esc(m.name)} and ${esc(o.name)}">${cut ? '✕' : '↔'} ${esc(o.name)}</button>`;
            }).join(''));
          });
        }

        const colors = {append: '#2f6fd6', appendResponse: '#8fb3ee', heartbeat: '#999', heartbeatResponse: '#ccc',
                        vote: '#d67a00', voteResponse: '#f0b060', preVote: '#a05cc0', preVoteResponse: '#caa0e0',
                        snapshot: '#1f7a3a', timeoutNow: '#b0002a'};
        function renderNetwork(view) {
          const names = view.members.map(m => m.name);
          const place = {};
          names.forEach((name, i) => {
            const angle = -Math.PI / 2 + 2 * Math.PI * i / names.length;
            place[name] = [210 + 120 * Math.cos(angle), 160 + 120 * Math.sin(angle)];
          });
          const cut = new Set();
          for (const m of view.members) for (const other of m.cutOff || []) { cut.add(m.name + '|' + other); cut.add(other + '|' + m.name); }
          let svg = '';
          names.forEach((a, i) => names.slice(i + 1).forEach(b => {
            const [x1, y1] = place[a], [x2, y2] = place[b];
            svg += `<line x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2}" stroke="${cut.has(a + '|' + b) ? '#b0002a' : '#ddd'}"` +
              ` stroke-dasharray="${cut.has(a + '|' + b) ? '6 4' : ''}" stroke-width="2"/>`;
          }));
          const recent = messagesOf(view).filter(msg => view.at - msg.at <= 1500 && place[msg.from] && place[msg.to]);
          for (const msg of recent.slice(-80)) {
            const f = 0.15 + 0.7 * Math.min(1, (view.at - msg.at) / 1500);
            const [x1, y1] = place[msg.from], [x2, y2] = place[msg.to];
            const x = x1 + (x2 - x1) * f, y = y1 + (y2 - y1) * f;
            svg += msg.dropped
              ? `<text x="${x}" y="${y + 4}" text-anchor="middle" fill="#b0002a" font-weight="bold">✕</text>`
              : `<circle cx="${x}" cy="${y}" r="5" fill="${colors[msg.kind] || '#555'}"><title>${esc(msg.kind)}</title></circle>`;
          }
          for (const m of view.members) {
            const [x, y] = place[m.name];
            const fill = isDown(m) ? '#bbb' : m.role === 'leader' ? '#1f7a3a' : m.role.endsWith('candidate') ? '#b35c00' : '#3a5a8c';
            svg += `<circle cx="${x}" cy="${y}" r="26" fill="${fill}"/><text x="${x}" y="${y + 4}" text-anchor="middle" fill="white"` +
              ` font-size="12">${esc(m.name)}</text><text x="${x}" y="${y + 42}" text-anchor="middle" font-size="11">` +
              `${isDown(m) ? 'not answering' : 'term ' + m.term}</text>`;
          }
          svg += Object.entries(colors).map(([kind, color], i) =>
            `<circle cx="${10 + (i % 3) * 136}" cy="${304 + Math.floor(i / 3) * 14}" r="4" fill="${color}"/>` +
            `<text x="${17 + (i % 3) * 136}" y="${308 + Math.floor(i / 3) * 14}" font-size="10">${kind}</text>`).join('') +
            `<text x="${10 + 136}" y="${308 + 3 * 14}" font-size="10" fill="#b0002a">✕ dropped (cut off)</text>`;
          setHTML($('network'), svg);
        }

        function renderLogs(view) {
          const up = view.members.filter(m => !isDown(m));
          const leader = up.find(m => m.role === 'leader');
          const indexes = [...new Set(up.flatMap(m => m.log.map(e => e.index)))].sort((a, b) => a - b).slice(-12);
          let html = '<tr><th>index</th>' + up.map(m => `<th>${esc(m.name)}</th>`).join('') + '</tr>';
          for (const index of indexes) {
            html += `<tr><td>${index}</td>` + up.map(m => {
              const entry = m.log.find(e => e.index === index);
              if (!entry) return '<td></td>';
              const theirs = leader && leader.log.find(e => e.index === index);
              const differs = theirs && theirs.term !== entry.term;
              return `<td class="${entry.committed ? 'committed' : 'uncommitted'}${differs ? ' divergent' : ''}" data-index="${index}"` +
                ` data-term="${entry.term}"><span class="term">t${entry.term}</span> ${esc(entry.summary)}</td>`;
            }).join('') + '</tr>';
          }
          setHTML($('logs'), html);
        }

        // A message the receiver dropped (it was cut off) is also in its sender's list as sent:
        // shown once, as dropped.
        const messageKey = msg => [msg.from, msg.to, msg.kind, msg.term, msg.index, msg.commit, msg.entries].join('|');
        function messagesOf(view) {
          const all = view.members.flatMap(m => (m.messages || []).map(msg => ({...msg, by: m.name})));
          const dropped = new Set(all.filter(msg => msg.dropped).map(messageKey));
          return all.filter(msg => msg.dropped || !dropped.has(messageKey(msg)));
        }

        function renderMessages(view) {
          const all = messagesOf(view);
          all.sort((a, b) => b.at - a.at);
          setHTML($('messages'), '<ul>' + all.slice(0, 40).map(msg => {
            const detail = msg.kind.startsWith('append') || msg.kind === 'heartbeat'
              ? ` index ${msg.index}${msg.entries ? ' +' + msg.entries + ' entries' : ''} commit ${msg.commit}` : '';
            return `<li class="${msg.dropped ? 'dropped' : ''}">${clock(msg.at)} ${esc(msg.from)}→${esc(msg.to)} ${esc(msg.kind)}` +
              ` term ${msg.term}${detail}${msg.reject ? ' REJECTED' : ''}${msg.dropped ? ' (dropped)' : ''}</li>`;
          }).join('') + '</ul>');
        }

        function renderTimeline(view) {
          const all = view.members.flatMap(m => (m.events || []).map(e => ({...e, name: m.name})));
          all.sort((a, b) => b.at - a.at);
          setHTML($('timeline'), '<ul>' + all.slice(0, 40).map(e =>
            `<li>${clock(e.at)} ${esc(e.name)} term ${e.term}: ${esc(e.text)}</li>`).join('') + '</ul>');
        }

        async function post(url) {
          const response = await fetch(url, {method: 'POST'});
          const text = await response.text();
          if (!response.ok) throw new Error(text);
          return text;
        }

        async function act(action, name, peer) {
          const view = frames[frames.length - 1];
          const member = view.members.find(m => m.name === name);
          const others = view.members.filter(m => m.name !== name).map(m => m.name);
          const cutFrom = names => names.length
            ? post(member.clientURL + '/debug/raft/cut?from=' + encodeURIComponent(names.join(',')))
            : post(member.clientURL + '/debug/raft/heal');
          try {
            if (action === 'isolate') await cutFrom(others);
            else if (action === 'link') {
              await cutFrom(member.cutOff.includes(peer) ? member.cutOff.filter(n => n !== peer) : [...member.cutOff, peer]);
              action = (member.cutOff.includes(peer) ? 'reconnect ' : 'cut ') + peer + ' from';
            }
            else if (action === 'heal') await post(member.clientURL + '/debug/raft/heal');
            else await post(labURL + '/members/' + encodeURIComponent(name) + '/' + action);
            $('lab-result').textContent = `${action} ${name}: done`;
          } catch (error) {
            $('lab-result').textContent = `${action} ${name}: ${error.message}`;
          }
          pollLab();
        }

        async function pollLab() {
          if (!labURL) return;
          try {
            const answer = await (await fetch(labURL + '/members')).json();
            labMembers = Object.fromEntries(answer.members.map(m => [m.name, m]));
          } catch (error) { /* the lab is gone: keep the last states */ }
        }

        async function write() {
          const view = frames[frames.length - 1];
          const leader = view && view.members.find(m => m.role === 'leader' && !isDown(m));
          if (!leader) { $('lab-result').textContent = 'no leader to write to'; return; }
          const path = $('key').value.split('/').map(encodeURIComponent).join('/');
          $('lab-result').textContent = 'writing…';
          try {
            const response = await fetch(leader.clientURL + '/v1/keys/' + path, {method: 'POST', body: new URLSearchParams({value: $('value').value})});
            const text = await response.text();
            $('lab-result').textContent = (response.ok ? `wrote through ${leader.name}: ` : `${leader.name} refused the write: `) + text;
          } catch (error) { $('lab-result').textContent = 'write failed: ' + error.message; }
        }

        $('members').addEventListener('click', event => {
          const button = event.target.closest('button[data-action]');
          if (button) act(button.dataset.action, button.dataset.member, button.dataset.peer);
        });
        $('pause').onclick = () => { paused = !paused; if (!paused) shown = frames.length - 1; render(); };
        $('back').onclick = () => { paused = true; shown = Math.max(0, shown - 1); render(); };
        $('forward').onclick = () => { shown = Math.min(frames.length - 1, shown + 1); render(); };
        $('live').onclick = () => { paused = false; shown = frames.length - 1; render(); };
        $('frame').oninput = () => { paused = true; shown = Number($('frame').value); render(); };
        $('write').onclick = write;
        setInterval(pollLab, 1000);
        connect();

        """#
}
