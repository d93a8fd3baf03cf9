%% bench/erlang/tr_bench_global.erl - the Erlang/OTP twin of
%% bench/tr_bench_global.c: Erlang's `global` on a local cluster of peer
%% nodes (separate OS processes), everything at its defaults.
%%
%%   erl -noshell -sname NAME -setcookie C -pa DIR -s tr_bench_global main BENCH
%%
%% Prints "VALUE <number> <unit>", then halts 0 (1 on a wrong result).
%%
%% failover / failover_max have no OTP supervisor to mirror: OTP has no
%% built-in supervisor that moves a child to another node when the node it
%% runs on dies (distributed applications, dist_ac with failover/takeover,
%% move a whole application and are the heavy alternative). The twin is
%% the few lines an Erlang programmer would write: a restarter on node A
%% that spawn_monitors the worker on B and global:register_name's it; on
%% 'DOWN' (noconnection) it spawns the worker on C and registers it again,
%% retrying while global still holds the dead pid's name. B is killed with
%% kill -9, so its TCP connections close and the loss is seen at once:
%% net_ticktime (60 s by default) only matters for a node that goes silent
%% with its connections open, not here.
-module(tr_bench_global).
-export([main/1, idle/0, join_and_count/1, worker/0, watcher/2]).

-define(REG_N, 1000).
-define(REG_WARM, 100).
-define(WHEREIS_N, 1000000).
-define(SYNC_NAMES, 10000).
-define(FO_N, 20). % kills per run, after FO_WARM
-define(FO_WARM, 1).
-define(FO_NAME, failover).

main([Name]) ->
    try
        run(Name),
        halt(0)
    catch C:R:S ->
        io:format(standard_error, "tr_bench_global.erl: ~p:~p ~p~n", [C, R, S]),
        halt(1)
    end.

now_s() -> erlang:monotonic_time(nanosecond) / 1.0e9.

peer_node() ->
    Dir = filename:dirname(code:which(?MODULE)),
    {ok, Peer, Node} = peer:start_link(#{name => peer:random_name(),
                                         args => ["-pa", Dir, "-setcookie",
                                                  atom_to_list(erlang:get_cookie())]}),
    pong = net_adm:ping(Node),
    {Peer, Node}.

cluster(N) ->
    Peers = [peer_node() || _ <- lists:seq(1, N)],
    ok = global:sync(),
    Peers.

idle() -> receive stop -> ok end.

%% global_register / global_register_p99: register_name + unregister_name
%% of one name, 1,000 times after 100 warm-up rounds, on a 3-node cluster.
run(global_register) -> register_bench(50);
run(global_register_p99) -> register_bench(99);

%% global_whereis: 1,000,000 lookups of a registered name.
run(global_whereis) ->
    Peers = cluster(2),
    P = spawn(fun idle/0),
    yes = global:register_name(bench, P),
    T0 = now_s(),
    P = whereis_n(?WHEREIS_N, undefined),
    T = now_s() - T0,
    value(T * 1.0e9 / ?WHEREIS_N, "ns"),
    stop(Peers);

%% registry_sync: a node joins a 2-node cluster holding 10,000 names;
%% seconds until global:sync() returns on it with every name there.
run(registry_sync) ->
    Peers = cluster(1),
    %% one registrar: concurrent ones only contend for global's lock
    fill(0, ?SYNC_NAMES),
    ?SYNC_NAMES = length(global:registered_names()),
    Dir = filename:dirname(code:which(?MODULE)),
    {ok, Peer, Node} = peer:start(#{name => peer:random_name(),
                                    connection => standard_io,
                                    args => ["-pa", Dir, "-setcookie",
                                             atom_to_list(erlang:get_cookie())]}),
    T0 = now_s(),
    N = peer:call(Peer, ?MODULE, join_and_count, [node()], 120000),
    T = now_s() - T0,
    ?SYNC_NAMES = N,
    value(T, "s"),
    _ = Node,
    peer:stop(Peer),
    stop(Peers);

%% failover / failover_max: kill -9 of the node running a worker with a
%% global name, until the name, looked up on C, answers a message round
%% trip from the new worker on C; ms, median (max) of 20 kills.
run(failover) -> failover_bench(median);
run(failover_max) -> failover_bench(max);

run(Other) ->
    erlang:error({unknown_benchmark, Other}).

failover_bench(Which) ->
    {PeerC, C} = peer_node(),
    Ms = [failover_once(C) || _ <- lists:seq(1, ?FO_WARM + ?FO_N)],
    Sorted = lists:sort(lists:nthtail(?FO_WARM, Ms)),
    value(case Which of
              median -> lists:nth(?FO_N div 2 + 1, Sorted);
              max -> lists:last(Sorted)
          end, "ms"),
    stop([{PeerC, C}]).

%% One kill: a fresh node B, the worker placed there, B killed.
failover_once(C) ->
    Dir = filename:dirname(code:which(?MODULE)),
    %% not linked: B's controller goes down with B
    {ok, PeerB, B} = peer:start(#{name => peer:random_name(),
                                  args => ["-pa", Dir, "-setcookie",
                                           atom_to_list(erlang:get_cookie())]}),
    pong = net_adm:ping(B),
    pong = rpc:call(B, net_adm, ping, [C]),
    ok = global:sync(),
    OsPid = rpc:call(B, os, getpid, []),
    %% the shell that kills B runs already: the timed path is one write
    %% and kill(2), as in troupe, not os:cmd's fork of a shell
    Sh = open_port({spawn_executable, "/bin/sh"}, [binary, exit_status]),
    Self = self(),
    R = spawn_link(fun() -> restarter(Self, [B, C], B) end),
    W = receive {registered, R, W0} -> W0 end,
    B = node(W),
    Watcher = spawn_link(C, ?MODULE, watcher, [Self, W]),
    receive {watching, Watcher} -> ok end,
    T0 = now_s(),
    true = port_command(Sh, ["kill -9 ", OsPid, "\nexit\n"]),
    W2 = receive {answered, Watcher, P} -> P end,
    Ms = (now_s() - T0) * 1.0e3,
    C = node(W2),
    receive {Sh, {exit_status, 0}} -> ok end,
    receive {registered, R, W2} -> ok end,
    unlink(R),
    R ! stop,
    receive {stopped, R} -> ok end,
    catch peer:stop(PeerB),
    Ms.

%% The restarter (node A): the worker on Node, monitored and registered;
%% on its loss, again on the next live node of Nodes after Node.
restarter(Parent, Nodes, Node) ->
    {W, Ref} = spawn_monitor(Node, ?MODULE, worker, []),
    register_retry(W),
    Parent ! {registered, self(), W},
    receive
        {'DOWN', Ref, process, W, _noconnection} ->
            restarter(Parent, Nodes, next_node(Nodes, Node));
        stop ->
            erlang:demonitor(Ref, [flush]),
            global:unregister_name(?FO_NAME),
            exit(W, kill),
            Parent ! {stopped, self()}
    end.

register_retry(W) ->
    case global:register_name(?FO_NAME, W) of
        yes -> ok;
        no -> timer:sleep(1), register_retry(W) % the dead pid's, still
    end.

next_node(Nodes, Node) ->
    {Before, [Node | After]} = lists:splitwith(fun(N) -> N =/= Node end,
                                               Nodes),
    Live = [node() | nodes()],
    hd([N || N <- After ++ Before, lists:member(N, Live)]).

worker() ->
    receive {ping, From, Ref} -> From ! {pong, Ref}, worker() end.

%% On C: poll C's replica (global has no events to subscribe to) every
%% millisecond until the name points at a new pid, then a round trip.
watcher(Parent, Old) ->
    Parent ! {watching, self()},
    W = await_moved(Old),
    Ref = make_ref(),
    W ! {ping, self(), Ref},
    receive {pong, Ref} -> ok end,
    Parent ! {answered, self(), W}.

await_moved(Old) ->
    case global:whereis_name(?FO_NAME) of
        P when is_pid(P), P =/= Old -> P;
        _ -> timer:sleep(1), await_moved(Old)
    end.

register_bench(Pct) ->
    Peers = cluster(2),
    P = spawn(fun idle/0),
    Us = [begin
              T0 = now_s(),
              yes = global:register_name(bench, P),
              _ = global:unregister_name(bench),
              (now_s() - T0) * 1.0e6
          end || _ <- lists:seq(1, ?REG_WARM + ?REG_N)],
    Sorted = lists:sort(lists:nthtail(?REG_WARM, Us)),
    value(lists:nth(max(1, ?REG_N * Pct div 100), Sorted), "us"),
    stop(Peers).

%% On the newcomer: connect, wait for global to synchronise, count.
join_and_count(Node) ->
    true = net_kernel:connect_node(Node),
    ok = global:sync(),
    length(global:registered_names()).

whereis_n(0, Last) -> Last;
whereis_n(N, _) -> whereis_n(N - 1, global:whereis_name(bench)).

fill(_, 0) -> ok;
fill(I, K) ->
    P = spawn(fun idle/0),
    yes = global:register_name({name, I}, P),
    fill(I + 1, K - 1).

stop(Peers) -> [peer:stop(Peer) || {Peer, _} <- Peers], ok.

value(V, Unit) when is_float(V) -> io:format("VALUE ~.6f ~s~n", [V, Unit]);
value(V, Unit) -> io:format("VALUE ~p ~s~n", [V, Unit]).
