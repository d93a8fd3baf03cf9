%% bench/erlang/tr_bench_global.erl - the Erlang/OTP twin of
%% bench/tr_bench_global.c: Erlang's `global` on a local cluster of peer
%% nodes (separate OS processes), everything at its defaults.
%%
%%   erl -noshell -sname NAME -setcookie C -pa DIR -s tr_bench_global main BENCH
%%
%% Prints "VALUE <number> <unit>", then halts 0 (1 on a wrong result).
-module(tr_bench_global).
-export([main/1, idle/0, join_and_count/1]).

-define(REG_N, 1000).
-define(REG_WARM, 100).
-define(WHEREIS_N, 1000000).
-define(SYNC_NAMES, 10000).

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

run(Other) ->
    erlang:error({unknown_benchmark, Other}).

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
