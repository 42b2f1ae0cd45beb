// The live view's page: plain HTML and CSS here, its script in RaftViewPage+Script.swift. No
// build step and nothing fetched from elsewhere: a member serves all of it from its binary.

enum RaftViewPage {
    static var html: String { head + style + body + "<script>\n" + script + "</script>\n</body>\n</html>\n" }

    static let head = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Raft, live</title>

        """

    static let style = """
        <style>
        :root { --leader: #1f7a3a; --candidate: #b35c00; --follower: #3a5a8c; --down: #888; --cut: #b0002a; }
        body { font: 14px/1.4 system-ui, sans-serif; margin: 0 1.5em 2em; color: #222; background: #fafafa; }
        h1 { font-size: 1.4em; margin: .6em 0 .2em; }
        h2 { font-size: 1.05em; margin: 1.2em 0 .4em; }
        .bar { display: flex; flex-wrap: wrap; gap: .5em; align-items: center; margin: .4em 0; }
        .bar input[type=range] { width: 16em; }
        #connection { color: #666; }
        #members { display: flex; flex-wrap: wrap; gap: 1em; }
        .member { background: white; border: 2px solid #ccc; border-radius: 8px; padding: .6em .8em; min-width: 15em; max-width: 24em; }
        .member.leader { border-color: var(--leader); }
        .member.candidate, .member.pre-candidate { border-color: var(--candidate); }
        .member.unreachable { border-style: dashed; color: var(--down); }
        .member h3 { margin: 0 0 .3em; font-size: 1.1em; }
        .role { display: inline-block; padding: 0 .5em; border-radius: 1em; color: white; font-size: .85em; background: var(--follower); }
        .leader .role { background: var(--leader); }
        .candidate .role, .pre-candidate .role { background: var(--candidate); }
        .unreachable .role { background: var(--down); }
        .numbers { display: grid; grid-template-columns: auto auto; gap: 0 .8em; font-variant-numeric: tabular-nums; }
        .numbers span:nth-child(odd) { color: #666; }
        .cut { color: var(--cut); font-weight: 600; }
        table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
        td, th { border: 1px solid #ddd; padding: .15em .45em; text-align: left; vertical-align: top; }
        th { background: #f0f0f0; }
        .progress td, .progress th { font-size: .9em; }
        .controls button { margin: .3em .2em 0 0; }
        #network { background: white; border: 1px solid #ddd; border-radius: 8px; }
        #logs td.committed { background: #eaf6ec; }
        #logs td.uncommitted { background: #fff8e0; }
        #logs td.divergent { outline: 2px solid var(--cut); outline-offset: -2px; }
        #logs td .term { color: #666; font-size: .85em; }
        .columns { display: flex; flex-wrap: wrap; gap: 2em; }
        #messages li, #timeline li { font-family: ui-monospace, monospace; font-size: .85em; list-style: none; }
        #messages ul, #timeline ul { padding: 0; margin: 0; max-height: 22em; overflow-y: auto; }
        .dropped { color: var(--cut); text-decoration: line-through; }
        .error { color: var(--cut); }
        </style>
        </head>

        """

    static let body = """
        <body>
        <h1>Raft, live <small id="served"></small></h1>
        <div class="bar">
          <button id="pause">Pause</button>
          <button id="back" title="one step back">&#9664;</button>
          <input id="frame" type="range" min="0" max="0" value="0" aria-label="moment shown">
          <button id="forward" title="one step forward">&#9654;</button>
          <button id="live">Live</button>
          <span id="moment"></span>
          <span id="connection">connecting…</span>
        </div>
        <div class="bar" id="lab" hidden>
          <strong>Lab:</strong>
          <input id="key" value="lab/x" size="10" aria-label="key"> = <input id="value" value="1" size="8" aria-label="value">
          <button id="write">write a key</button>
          <span id="lab-result"></span>
        </div>
        <div id="members"></div>
        <div class="columns">
          <div>
            <h2>Messages (last 1.5 s)</h2>
            <svg id="network" width="420" height="370" viewBox="0 0 420 370"></svg>
          </div>
          <div>
            <h2>Log tails <small>(green: committed; red outline: differs from the leader's)</small></h2>
            <table id="logs"></table>
          </div>
        </div>
        <div class="columns">
          <div><h2>Recent messages <small>(heartbeats thinned)</small></h2><div id="messages"></div></div>
          <div><h2>Elections and leaders</h2><div id="timeline"></div></div>
        </div>

        """
}
