%% bench/erlang/tr_bench.erl - the Erlang/OTP twin of bench/tr_bench.c.
%%
%%   erl -noshell +P 4000000 -pa DIR -s tr_bench main NAME
%%
%% Does the same work as the C benchmark of the same name and prints one
%% line "VALUE <number> <unit>" (spawn_tree also "PEAK_RSS_MB <n>" first),
%% then halts with status 0; a wrong result halts with status 1.
-module(tr_bench).
-behaviour(supervisor).
-export([main/1, init/1, start_idle/0, start_rl/1]).

main([Name]) ->
    try
        run(Name),
        halt(0)
    catch C:R:S ->
        io:format(standard_error, "tr_bench.erl: ~p:~p ~p~n", [C, R, S]),
        halt(1)
    end.

now_s() -> erlang:monotonic_time(nanosecond) / 1.0e9.

value(V, Unit) when is_float(V) -> io:format("VALUE ~.4f ~s~n", [V, Unit]);
value(V, Unit) -> io:format("VALUE ~p ~s~n", [V, Unit]).

check(true, _) -> ok;
check(false, What) -> erlang:error({wrong_result, What}).

%% spawn_flat: spawn 2^20 processes; each is sent go, replies, ends.
%% The parent spawns in slices and keeps its queue off-heap, as the C side
%% spawns 1,000 per turn.
-define(FLAT_N, 1048576).
run(spawn_flat) ->
    Self = self(),
    T0 = now_s(),
    P = spawn_opt(fun() -> flat_parent(Self) end,
                  [{message_queue_data, off_heap}]),
    receive {result, P, N} -> check(N =:= ?FLAT_N, flat_count) end,
    value(now_s() - T0, "s");

%% spawn_tree: depth 20 (2^21 - 1 processes); leaves reply 1, parents
%% reply the sum of their children plus 1.
run(spawn_tree) ->
    T0 = now_s(),
    Root = spawn(fun tree/0),
    Root ! {spread, 20, self()},
    receive {result, N} -> check(N =:= 2097151, tree_sum) end,
    T = now_s() - T0,
    io:format("PEAK_RSS_MB ~.1f~n", [peak_rss_kb() / 1024]),
    value(T, "s");

%% mailbox: 20 senders x 1,000,000 messages to one off-heap receiver.
run(mailbox) ->
    Self = self(),
    R = spawn_opt(fun() -> mb_receive(Self, 0) end,
                  [{message_queue_data, off_heap}]),
    Senders = [spawn(fun() -> receive go -> mb_send(R, 1000000) end end)
               || _ <- lists:seq(1, 20)],
    T0 = now_s(),
    [S ! go || S <- Senders],
    receive {result, N} -> check(N =:= 20000000, mailbox_count) end,
    value(20000000 / (now_s() - T0), "msg/s");

%% pingpong: 1,000,000 round trips between two processes.
run(pingpong) ->
    Self = self(),
    Pong = spawn(fun pong/0),
    Ping = spawn(fun() -> receive start -> ping(Pong, 1000000, Self) end end),
    T0 = now_s(),
    Ping ! start,
    receive {result, done} -> ok end,
    value(1000000 / (now_s() - T0), "rt/s");

%% ring: 1,000 processes, a token makes 1,000,000 hops.
run(ring) ->
    Self = self(),
    First = spawn(fun() -> receive {next, Next} -> ring(Next, Self) end end),
    Last = lists:foldl(fun(_, Next) ->
                               spawn(fun() -> ring(Next, Self) end)
                       end, First, lists:seq(1, 999)),
    First ! {next, Last},
    T0 = now_s(),
    Last ! {token, 1000000},
    receive {result, ring_done} -> ok end,
    value(1000000 / (now_s() - T0), "hops/s");

%% idle_memory: bytes per idle process, 100,000 processes, measured as
%% the growth of erlang:memory(processes); the list of pids is held by
%% this process and is not counted (it is on this process's heap, which
%% is measured before and after a GC).
run(idle_memory) ->
    garbage_collect(),
    Before = erlang:memory(processes),
    Pids = [spawn(fun() -> receive stop -> ok end end)
            || _ <- lists:seq(1, 100000)],
    garbage_collect(),
    After = erlang:memory(processes),
    {memory, Mine} = process_info(self(), memory),
    check(length(Pids) =:= 100000, idle_count),
    PerProc = (After - Before - Mine) / 100000,
    value(PerProc, "B/actor");

%% dynamic_children: 100,000 children under a simple_one_for_one
%% supervisor, started one call each, then the supervisor stopped.
run(dynamic_children) ->
    {ok, Sup} = supervisor:start_link(?MODULE, dyn),
    T0 = now_s(),
    dyn_start(Sup, 100000),
    100000 = proplists:get_value(active, supervisor:count_children(Sup)),
    unlink(Sup),
    MRef = monitor(process, Sup),
    exit(Sup, shutdown),
    receive {'DOWN', MRef, process, Sup, _} -> ok end,
    value(now_s() - T0, "s");

%% restart_latency: a supervised child is killed; time until its
%% replacement has started and answered a call. Median of 1,000 (us).
run(restart_latency) ->
    {ok, _Sup} = supervisor:start_link(?MODULE, {rl, self()}),
    W = rl_started(),
    Us = rl_loop(W, 1000, []),
    value(lists:nth(500, lists:sort(Us)), "us");

run(Other) ->
    erlang:error({unknown_benchmark, Other}).

rl_started() -> receive {started, P} -> P after 10000 -> error(no_restart) end.

rl_loop(_, 0, Acc) -> Acc;
rl_loop(W, N, Acc) ->
    T0 = now_s(),
    exit(W, kill),
    W2 = rl_started(),
    Ref = monitor(process, W2),
    W2 ! {ping, self(), Ref},
    receive {pong, Ref} -> ok end,
    demonitor(Ref, [flush]),
    rl_loop(W2, N - 1, [(now_s() - T0) * 1.0e6 | Acc]).

start_rl(Main) ->
    Pid = spawn_link(fun rl_server/0),
    Main ! {started, Pid},
    {ok, Pid}.

rl_server() -> receive {ping, From, Ref} -> From ! {pong, Ref}, rl_server() end.

init({rl, Main}) ->
    {ok, {#{strategy => one_for_one, intensity => 1000000, period => 5},
          [#{id => w, start => {?MODULE, start_rl, [Main]}}]}};
init(dyn) ->
    {ok, {#{strategy => simple_one_for_one, intensity => 3, period => 5},
          [#{id => idle, start => {?MODULE, start_idle, []}}]}}.

start_idle() -> {ok, spawn_link(fun() -> receive stop -> ok end end)}.

dyn_start(_, 0) -> ok;
dyn_start(Sup, N) -> {ok, _} = supervisor:start_child(Sup, []), dyn_start(Sup, N - 1).

flat_parent(Main) -> flat_spawn(Main, 0, 0).

flat_spawn(Main, Spawned, Done) when Spawned < ?FLAT_N ->
    Self = self(),
    Slice = min(1000, ?FLAT_N - Spawned),
    [begin
         C = spawn(fun() -> receive go -> Self ! done end end),
         C ! go
     end || _ <- lists:seq(1, Slice)],
    flat_spawn(Main, Spawned + Slice, flat_drain(Done));
flat_spawn(Main, Spawned, Done) when Done < ?FLAT_N ->
    receive done -> flat_spawn(Main, Spawned, Done + 1) end;
flat_spawn(Main, _, Done) ->
    Main ! {result, self(), Done}.

flat_drain(Done) ->
    receive done -> flat_drain(Done + 1) after 0 -> Done end.

tree() ->
    receive
        {spread, 0, Parent} ->
            Parent ! {result, 1};
        {spread, N, Parent} ->
            Self = self(),
            [spawn(fun tree/0) ! {spread, N - 1, Self} || _ <- [1, 2]],
            receive {result, A} ->
                receive {result, B} -> Parent ! {result, A + B + 1} end
            end
    end.

peak_rss_kb() ->
    {ok, Bin} = file:read_file("/proc/self/status"),
    [Line] = [L || L <- binary:split(Bin, <<"\n">>, [global]),
                   binary:match(L, <<"VmHWM:">>) =/= nomatch],
    [_, Kb | _] = binary:split(Line, [<<" ">>, <<"\t">>], [global, trim_all]),
    binary_to_integer(Kb).

mb_receive(Main, 20000000) -> Main ! {result, 20000000};
mb_receive(Main, N) -> receive _ -> mb_receive(Main, N + 1) end.

mb_send(_, 0) -> ok;
mb_send(R, N) -> R ! m, mb_send(R, N - 1).

pong() -> receive {ping, From} -> From ! pong, pong() end.

ping(_, 0, Main) -> Main ! {result, done};
ping(Pong, N, Main) ->
    Pong ! {ping, self()},
    receive pong -> ping(Pong, N - 1, Main) end.

ring(Next, Main) ->
    receive
        {token, 0} -> Main ! {result, ring_done}, ring(Next, Main);
        {token, N} -> Next ! {token, N - 1}, ring(Next, Main)
    end.
